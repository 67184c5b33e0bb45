from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.http import HttpRequest

from .models import CREDIT_KINDS, Account, ApiKey, LedgerEntry, StarterCredit
from .money import usd_to_micros


def account_balance_micros(*, user_id: int) -> int:
    balance = (
        Account.objects.filter(user_id=user_id).values_list("balance_micros", flat=True).first()
    )
    return balance or 0


def account_owed_micros(*, user_id: int) -> int:
    owed = Account.objects.filter(user_id=user_id).values_list("owed_micros", flat=True).first()
    return owed or 0


def request_balance_micros(request: HttpRequest) -> int | None:
    """The signed-in user's balance, read once per request however many parts of the page
    show it (the header, the price); None for a visitor. Read it after the request's own
    charges."""
    if not request.user.is_authenticated:
        return None
    if not hasattr(request, "balance_micros"):
        request.balance_micros = account_balance_micros(user_id=request.user.pk)
    return request.balance_micros


def ledger_entry_list(
    *,
    user_id: int,
    kinds: tuple[str, ...] = (),
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[LedgerEntry]:
    """The user's ledger, newest first, optionally of some kinds and between two days."""
    entries = (
        LedgerEntry.objects.filter(account__user_id=user_id)
        .select_related("generation__model", "api_key", "redeem_code")
        .defer("generation__model__docs")
    )
    if kinds:
        entries = entries.filter(kind__in=kinds)
    if since:
        entries = entries.filter(created_at__date__gte=since)
    if until:
        entries = entries.filter(created_at__date__lte=until)
    return entries


def credit_history(*, user_id: int) -> QuerySet[LedgerEntry]:
    """Credits that came in: starter credits, grants, redeemed codes, adjustments, refunds."""
    return ledger_entry_list(user_id=user_id, kinds=CREDIT_KINDS)


def generation_ledger(*, user_id: int, generation_id: UUID) -> list[LedgerEntry]:
    """A generation's ledger rows in the order they were written; empty if it is not the user's."""
    return list(
        ledger_entry_list(user_id=user_id)
        .filter(generation_id=generation_id)
        .order_by("created_at", "pk")
    )


def holds_unreleased(*, held_before: datetime | None = None) -> QuerySet[LedgerEntry]:
    """Holds not yet settled: jobs still running, or whose worker died (if older than a while)."""
    releases = LedgerEntry.objects.filter(
        generation_id=OuterRef("generation_id"), kind=LedgerEntry.Kind.RELEASE
    )
    holds = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).exclude(Exists(releases))
    return holds if held_before is None else holds.filter(created_at__lt=held_before)


def api_key_list(*, user_id: int) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user_id=user_id)


@dataclass(frozen=True, kw_only=True)
class DailySpend:
    day: date
    model: str
    spend_micros: int
    generations: int


def usage_daily(*, user_id: int, since: date) -> list[DailySpend]:
    """Spend (charges less refunds) per day and model from a day on, oldest day first."""
    rows = (
        ledger_entry_list(
            user_id=user_id, kinds=(LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.REFUND)
        )
        .filter(created_at__date__gte=since)
        .annotate(day=TruncDate("created_at"), model=F("generation__model__name"))
        .values("day", "model")
        .annotate(
            total=Sum("amount_micros"),
            generations=Count("pk", filter=Q(kind=LedgerEntry.Kind.CAPTURE)),
        )
        .order_by("day", "model")
    )
    return [
        DailySpend(
            day=row["day"],
            model=row["model"],
            spend_micros=-row["total"],
            generations=row["generations"],
        )
        for row in rows
    ]


def ledger_entry_by_reference(*, reference: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(reference=reference).select_related("account__user").first()


def accounts_off_ledger() -> QuerySet[Account]:
    """Accounts whose balance, or what they owe, is not the sum of their ledger (none, unless
    something is wrong)."""
    return (
        Account.objects.annotate(
            ledger_micros=Coalesce(Sum("entries__amount_micros"), Value(0)),
            ledger_owed_micros=Coalesce(Sum("entries__owed_micros"), Value(0)),
        )
        .exclude(balance_micros=F("ledger_micros"), owed_micros=F("ledger_owed_micros"))
        .select_related("user")
        .order_by("pk")
    )


def api_keys_off_ledger() -> QuerySet[ApiKey]:
    """Keys whose spend counter is not what their ledger rows took (held plus charged)."""
    return (
        ApiKey.objects.annotate(
            ledger_micros=-Coalesce(Sum("ledger_entries__amount_micros"), Value(0))
        )
        .exclude(spent_micros=F("ledger_micros"))
        .select_related("user")
        .order_by("pk")
    )


def email_address_list(*, user_id: int) -> QuerySet[EmailAddress]:
    return EmailAddress.objects.filter(user_id=user_id).order_by("-primary", "email")


def email_primary(*, user_id: int) -> EmailAddress | None:
    return EmailAddress.objects.filter(user_id=user_id, primary=True).first()


def email_is_verified(*, user_id: int) -> bool:
    """Whether the user's primary email is verified: card payments need it, so that receipts
    and account mail reach the person paying."""
    return EmailAddress.objects.filter(user_id=user_id, primary=True, verified=True).exists()


def starter_credits_micros() -> int:
    """What verifying an email gives a new account (STARTER_CREDITS_USD); 0 for nothing."""
    return usd_to_micros(settings.STARTER_CREDITS_USD)


def starter_credits_offer_micros(*, user_id: int) -> int:
    """The starter credits verifying their email would give the user: none once they had
    them, nor when their email is verified already (its address had them before)."""
    amount_micros = starter_credits_micros()
    if not amount_micros or email_is_verified(user_id=user_id):
        return 0
    return 0 if StarterCredit.objects.filter(account__user_id=user_id).exists() else amount_micros


def user_session_list(*, user) -> list[UserSession]:
    """The user's signed-in sessions (browsers, devices), oldest first; expired ones are
    dropped on the way."""
    return sorted(UserSession.objects.purge_and_list(user), key=lambda session: session.created_at)
