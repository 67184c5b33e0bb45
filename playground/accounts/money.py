"""Money is integer micro-dollars everywhere; these helpers convert at the edges only."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS_PER_USD = 1_000_000
MICRO_PLACES = 6
# Pages round to this many decimals, and an amount smaller than that keeps this many
# significant digits, so that no price reads as $0.00 (the exact figure is on hover).
SHOWN_PLACES = 3


def usd_to_micros(amount: str | Decimal | int) -> int:
    """Parse a dollar amount ("1.50", Decimal, 2) into micro-dollars, rounding half up."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not a dollar amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a dollar amount: {amount!r}")
    return int((value * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd_str(micros: int) -> str:
    """Dollars as a plain decimal string with at least two places: 1_500_000 -> "1.50"."""
    return _decimals(Decimal(micros) / MICROS_PER_USD)


def format_usd(micros: int) -> str:
    """Dollars to the micro-dollar, for people: 1_500_000 -> "$1.50", -20_972 -> "-$0.020972"."""
    return _signed(micros, usd_str(abs(micros)))


def format_usd_rounded(micros: int) -> str:
    """Dollars as pages show them: at most three decimals, two where they suffice, thousands
    grouped; under a tenth of a cent, three significant digits.

    20_972 -> "$0.021", 30_000 -> "$0.03", 1_234_500_000 -> "$1,234.50", 472 -> "$0.000472".
    """
    return _signed(micros, _decimals(_shown(abs(micros)), grouping=","))


def is_shown_exactly(micros: int) -> bool:
    """Whether `format_usd_rounded` shows `micros` without rounding anything away."""
    return _shown(abs(micros)) * MICROS_PER_USD == abs(micros)


def _shown(micros: int) -> Decimal:
    """Non-negative `micros` in dollars, rounded half up as pages show them."""
    value = Decimal(micros) / MICROS_PER_USD
    places = SHOWN_PLACES
    if value and value.adjusted() < -SHOWN_PLACES:
        places = min(MICRO_PLACES, SHOWN_PLACES - 1 - value.adjusted())
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _decimals(value: Decimal, *, grouping: str = "") -> str:
    """`value` written out, its trailing zeros dropped down to two places: 1.5 -> "1.50"."""
    whole, _, fraction = f"{value:{grouping}f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _signed(micros: int, digits: str) -> str:
    return f"{'-' if micros < 0 else ''}${digits}"
