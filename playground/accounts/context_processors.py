from .money import format_usd
from .selectors import account_balance_micros


def balance(request):
    """The signed-in user's balance for the header."""
    if not request.user.is_authenticated:
        return {}
    return {"balance_display": format_usd(account_balance_micros(user_id=request.user.pk))}
