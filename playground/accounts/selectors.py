from .models import Account


def account_balance_micros(*, user_id: int) -> int:
    balance = (
        Account.objects.filter(user_id=user_id).values_list("balance_micros", flat=True).first()
    )
    return balance or 0
