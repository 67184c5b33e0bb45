"""Money is integer micro-dollars everywhere; these helpers convert at the edges only."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS_PER_USD = 1_000_000


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
    text = f"{Decimal(micros) / MICROS_PER_USD:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def format_usd(micros: int) -> str:
    """Dollars for people: 1_500_000 -> "$1.50", -20_000 -> "-$0.02"."""
    sign = "-" if micros < 0 else ""
    return f"{sign}${usd_str(abs(micros))}"
