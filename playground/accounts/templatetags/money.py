from django import template
from django.utils.html import format_html

from playground.accounts.money import format_usd, format_usd_rounded, is_shown_exactly

register = template.Library()


@register.filter
def usd(micros: int | None, exact: str = "") -> str:
    """Micro-dollars for people, the one way pages write money.

    {{ 20972|usd }} is rounded as prices read ("$0.021"), with the exact figure on hover;
    {{ 20972|usd:"exact" }} is "$0.020972", for the ledger.
    """
    if exact not in ("", "exact"):
        raise template.TemplateSyntaxError(f'usd takes "exact" or nothing, not {exact!r}')
    micros = micros or 0
    if exact:
        return format_usd(micros)
    if is_shown_exactly(micros):
        return format_usd_rounded(micros)
    return format_html(
        '<span class="usd" title="{} exactly">{}</span>',
        format_usd(micros),
        format_usd_rounded(micros),
    )
