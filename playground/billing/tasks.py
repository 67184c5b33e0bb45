from django.tasks import task

from . import services


@task()
def auto_top_up(user_id: int) -> str | None:
    """Pay one auto top-up (a charge took the balance below the user's threshold)."""
    payment = services.auto_top_up_pay(user_id=user_id)
    return payment.status if payment else None


@task()
def low_balance_notice(user_id: int) -> bool:
    """Email the low-balance notice (a charge took the balance below the user's threshold)."""
    return services.low_balance_notify(user_id=user_id)
