from django import template

from playground.accounts.money import format_usd

register = template.Library()


@register.filter
def usd(micros: int | None) -> str:
    """Micro-dollars for people: {{ 20000|usd }} -> "$0.02"."""
    return format_usd(micros or 0)
