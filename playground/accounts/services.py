"""Everything that changes accounts, balances and API keys.

Balances move only by conditional UPDATEs inside a transaction that also writes the ledger row,
so the balance always equals the ledger's sum and can never go below zero.
"""

import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from .errors import InsufficientCredits, InvalidApiKey, SpendLimitReached
from .models import Account, ApiKey, LedgerEntry, hash_api_key
from .money import usd_to_micros

API_KEY_SCHEME = "sk-"


@transaction.atomic
def account_open(*, user: AbstractBaseUser) -> Account:
    """The user's account, created with the starter credits on first use."""
    account, created = Account.objects.get_or_create(user=user)
    if created:
        starter_micros = usd_to_micros(settings.STARTER_CREDITS_USD)
        if starter_micros:
            credits_grant(account=account, amount_micros=starter_micros, memo="Starter credits")
            account.refresh_from_db(fields=["balance_micros"])
    return account


@transaction.atomic
def user_sign_up(*, username: str, password: str, email: str = "") -> AbstractBaseUser:
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    account_open(user=user)
    return user


@transaction.atomic
def credits_grant(
    *,
    account: Account,
    amount_micros: int,
    memo: str,
    kind: LedgerEntry.Kind = LedgerEntry.Kind.GRANT,
) -> LedgerEntry:
    if amount_micros <= 0:
        raise ValueError("a grant must be positive")
    Account.objects.filter(pk=account.pk).update(balance_micros=F("balance_micros") + amount_micros)
    return LedgerEntry.objects.create(
        account=account, kind=kind, amount_micros=amount_micros, memo=memo
    )


@transaction.atomic
def credits_hold(
    *, user_id: int, api_key_id: int | None, generation_id, amount_micros: int
) -> None:
    """Reserve `amount_micros` for a generation, or raise if the balance or key limit is short."""
    moved = Account.objects.filter(user_id=user_id, balance_micros__gte=amount_micros).update(
        balance_micros=F("balance_micros") - amount_micros
    )
    if not moved:
        raise InsufficientCredits()
    if api_key_id is not None:
        _api_key_spend(api_key_id=api_key_id, amount_micros=amount_micros)
    LedgerEntry.objects.create(
        account=Account.objects.only("pk").get(user_id=user_id),
        kind=LedgerEntry.Kind.HOLD,
        amount_micros=-amount_micros,
        generation_id=generation_id,
    )


@transaction.atomic
def credits_settle(
    *, user_id: int, api_key_id: int | None, generation_id, cost_micros: int
) -> bool:
    """Release a generation's hold and capture what it cost (0 for a failure).

    Settling twice is a no-op: the second call finds the release already written and returns False.
    """
    account = Account.objects.select_for_update().get(user_id=user_id)
    entries = LedgerEntry.objects.filter(generation_id=generation_id)
    if entries.filter(kind=LedgerEntry.Kind.RELEASE).exists():
        return False
    hold = entries.get(kind=LedgerEntry.Kind.HOLD)
    held_micros = -hold.amount_micros
    if not 0 <= cost_micros <= held_micros:
        raise ValueError(f"cost {cost_micros} is outside the hold of {held_micros}")
    LedgerEntry.objects.create(
        account=account,
        kind=LedgerEntry.Kind.RELEASE,
        amount_micros=held_micros,
        generation_id=generation_id,
    )
    if cost_micros:
        LedgerEntry.objects.create(
            account=account,
            kind=LedgerEntry.Kind.CAPTURE,
            amount_micros=-cost_micros,
            generation_id=generation_id,
        )
    Account.objects.filter(pk=account.pk).update(
        balance_micros=F("balance_micros") + held_micros - cost_micros
    )
    if api_key_id is not None:
        ApiKey.objects.filter(pk=api_key_id).update(
            spent_micros=F("spent_micros") - (held_micros - cost_micros)
        )
    return True


def _api_key_spend(*, api_key_id: int, amount_micros: int) -> None:
    no_limit = ApiKey.objects.filter(pk=api_key_id, spend_limit_micros__isnull=True)
    within_limit = ApiKey.objects.filter(
        pk=api_key_id, spent_micros__lte=F("spend_limit_micros") - amount_micros
    )
    if not (no_limit | within_limit).update(spent_micros=F("spent_micros") + amount_micros):
        raise SpendLimitReached()


def api_key_create(
    *,
    user: AbstractBaseUser,
    name: str,
    spend_limit_micros: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its full value, which is never shown again."""
    raw_key = API_KEY_SCHEME + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=raw_key[: ApiKey.PREFIX_LENGTH],
        key_hash=hash_api_key(raw_key),
        spend_limit_micros=spend_limit_micros,
        expires_at=expires_at,
    )
    return api_key, raw_key


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The usable key that `raw_key` is, or `InvalidApiKey`. Hashes compare in constant time."""
    api_key = (
        ApiKey.objects.select_related("user").filter(prefix=raw_key[: ApiKey.PREFIX_LENGTH]).first()
    )
    if (
        api_key is None
        or not constant_time_compare(api_key.key_hash, hash_api_key(raw_key))
        or not api_key.is_usable
        or not api_key.user.is_active
    ):
        raise InvalidApiKey()
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key
