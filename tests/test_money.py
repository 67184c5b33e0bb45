"""How money reads: pages round prices to at most three decimals and keep the exact figure on
hover; the ledger, the CSV and the API's headers are exact to the micro-dollar."""

import pytest
from django.template import Context, Template, TemplateSyntaxError

from playground.accounts.money import format_usd, format_usd_rounded, usd_str, usd_to_micros
from playground.accounts.templatetags.money import usd


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (0, "$0.00"),
        (1, "$0.000001"),  # a micro-dollar: three significant digits, never "$0.00"
        (472, "$0.000472"),
        (1_234, "$0.001"),  # from a tenth of a cent on, three decimals
        (1_500, "$0.002"),  # half up
        (5_243, "$0.005"),
        (20_972, "$0.021"),
        (30_000, "$0.03"),  # two places where they suffice
        (125_000, "$0.125"),
        (999_500, "$1.00"),
        (1_000_000, "$1.00"),
        (25_000_000, "$25.00"),
        (1_234_500_000, "$1,234.50"),
        (987_654_321_987_654, "$987,654,321.988"),
        (-20_972, "-$0.021"),
        (-1, "-$0.000001"),
    ],
)
def test_pages_round_to_three_decimals_but_never_to_nothing(micros, shown):
    assert format_usd_rounded(micros) == shown


@pytest.mark.parametrize(
    ("micros", "exact"),
    [
        (0, "0.00"),
        (1, "0.000001"),
        (20_972, "0.020972"),
        (1_500_000, "1.50"),
        (10**12, "1000000.00"),
    ],
)
def test_exact_figures_keep_every_micro_dollar_and_read_back(micros, exact):
    assert usd_str(micros) == exact
    assert format_usd(micros) == f"${exact}"
    assert usd_to_micros(exact) == micros


def test_the_filter_puts_the_exact_figure_on_hover_only_when_it_rounded():
    assert usd(30_000) == "$0.03"
    assert usd(1_234_500_000) == "$1,234.50"
    assert usd(None) == "$0.00"
    assert usd(20_972) == '<span class="usd" title="$0.020972 exactly">$0.021</span>'
    assert usd(-1_500) == '<span class="usd" title="-$0.0015 exactly">-$0.002</span>'


def test_the_filter_writes_the_exact_figure_for_the_ledger():
    page = Template('{% load money %}{{ a|usd }} / {{ a|usd:"exact" }}').render(
        Context({"a": 20_972})
    )
    assert page == '<span class="usd" title="$0.020972 exactly">$0.021</span> / $0.020972'


def test_the_filter_refuses_an_unknown_mode():
    with pytest.raises(TemplateSyntaxError, match="exact"):
        Template('{% load money %}{{ 1|usd:"exat" }}').render(Context())
