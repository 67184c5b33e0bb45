from django import template

from playground.accounts.money import usd_str

register = template.Library()


@register.filter
def usd_plain(micros: int | None) -> str:
    """Dollars as the API's credit headers write them: {{ 20000|usd_plain }} -> "0.02"."""
    return usd_str(micros or 0)
