from datetime import timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from playground.accounts.models import TAKEN_BACK_KINDS, LedgerEntry

from .models import BillingProfile, Payment

ABANDONED_AFTER = timedelta(hours=1)


def payment_list(*, user_id: int) -> QuerySet[Payment]:
    """The user's payments, newest first, each with what its refunds and dispute took back.
    A payment still pending after `ABANDONED_AFTER` was never confirmed (the payer left the
    card form): it is left out."""
    taken_back = LedgerEntry.objects.filter(kind__in=TAKEN_BACK_KINDS).order_by("created_at", "pk")
    abandoned = Q(status=Payment.Status.PENDING, created_at__lt=timezone.now() - ABANDONED_AFTER)
    return (
        Payment.objects.filter(account__user_id=user_id)
        .exclude(abandoned)
        .prefetch_related(Prefetch("ledger_entries", queryset=taken_back, to_attr="taken_back"))
    )


def billing_profile_of(*, user_id: int) -> BillingProfile | None:
    return (
        BillingProfile.objects.select_related("account__user")
        .filter(account__user_id=user_id)
        .first()
    )


def billing_notice(*, user_id: int) -> str:
    """What the user must be told of their card payments (a failed auto top-up), if anything."""
    notice = (
        BillingProfile.objects.filter(account__user_id=user_id)
        .values_list("notice", flat=True)
        .first()
    )
    return notice or ""
