"""Everything that changes accounts, balances, API keys and redeem codes (`codes.py` makes them).

Every balance change is an UPDATE (conditional where it takes, never read-modify-write) plus
its ledger rows, in one transaction, so the balance always equals the ledger's sum and can never
go below zero: `_move` for one row, `_release` for settling a hold, `_api_key_spend` for a key's
spend; the UPDATEs are the two statements of `ledger.py`, the rows go through the ORM. What a
card refund or dispute takes back beyond the balance is owed (`credits_take_back`); credits
that come in pay it first (`_pay_owed`), and an account that owes can take nothing. The
ledger takes one hold, release, capture and refund per generation, so settling twice fails on
its unique index; services that must see which rows already exist (the stale-hold sweep,
refunds) first lock the accounts concerned, in primary-key order.
"""

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.adapter import get_adapter as usersessions_adapter
from allauth.usersessions.models import UserSession
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from playground.billing import thresholds
from playground.billing.models import BillingProfile
from playground.gateway import images
from playground.gateway.models import Generation, GenerationImage

from . import ledger
from .codes import redeem_code_normalize
from .errors import (
    AccountBusy,
    AlreadyRefunded,
    CreditsOwed,
    InsufficientCredits,
    InvalidApiKey,
    NothingToRefund,
    RedeemCodeExpired,
    RedeemCodeUnknown,
    RedeemCodeUsed,
    SpendLimitReached,
)
from .models import (
    TAKEN_BACK_KINDS,
    Account,
    ApiKey,
    LedgerEntry,
    RedeemCode,
    StarterCredit,
    WebhookSecret,
    hash_api_key,
    hash_email,
)
from .selectors import holds_unreleased, starter_credits_micros

API_KEY_SCHEME = "sk-"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
# How long the cache keeps an authenticated key (with its user and account), so an API call
# reads no row to authenticate. Changes forget it at once in the shared cache (Redis); with the
# per-process cache, other processes see them this much later at most.
API_KEY_CACHE_SECONDS = 10


def account_open(*, user: AbstractBaseUser) -> Account:
    """The user's account, created empty on first use: the starter credits come with a
    verified email (`starter_credits_grant`)."""
    account, _ = Account.objects.get_or_create(user=user)
    return account


@transaction.atomic
def starter_credits_grant(*, email_address: EmailAddress) -> LedgerEntry | None:
    """Give STARTER_CREDITS_USD for a verified email address, at most once per address (its
    hash outlives the account's deletion) and once per account; None when the address or the
    account had them already, or there are none to give.

    Two verifications at once grant once: the second's grant row waits on the first's unique
    keys and fails when it commits, taking its ledger row back with it.
    """
    amount_micros = starter_credits_micros()
    if not amount_micros or not email_address.verified:
        return None
    account = account_open(user=email_address.user)
    try:
        with transaction.atomic():
            entry = credits_grant(
                account=account, amount_micros=amount_micros, memo="Starter credits"
            )
            StarterCredit.objects.create(
                email_hash=hash_email(email_address.email), account=account, entry=entry
            )
    except IntegrityError:
        return None
    return entry


@transaction.atomic
def account_delete(*, user: AbstractBaseUser) -> None:
    """Close the user's account at their request: erase who they are and what they made, keep
    what the audit needs.

    Their keys are revoked and their sessions ended; username, email, names and password go,
    with their email addresses and GitHub/Google logins; auto top-up stops and the saved card is
    forgotten. Each generation loses its prompt and its images (results and inputs, deleted from
    storage once this commits). The Account, its ledger and its payments stay, under the
    anonymous user, so the books still balance and a pending payment or a debt is not lost.
    Raises `AccountBusy` while a job runs, since it would store images after the erasure.
    """
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    generations = Generation.objects.select_for_update().filter(user=user)
    if generations.filter(finished_at__isnull=True).exists():
        raise AccountBusy()
    for api_key in ApiKey.objects.filter(user=user, revoked_at__isnull=True):
        api_key_revoke(api_key=api_key)
    names = [
        name
        for generation in generations.prefetch_related("images")
        for name in generation.stored_names()
    ]
    GenerationImage.objects.filter(generation__user=user).delete()
    generations.update(prompt="", params={}, deleted_at=Coalesce("deleted_at", Now()))
    BillingProfile.objects.filter(account__user=user).update(
        auto_top_up=False, payment_method_id="", card_label="", notice=""
    )
    EmailAddress.objects.filter(user=user).delete()
    WebhookSecret.objects.filter(user=user).delete()
    SocialAccount.objects.filter(user=user).delete()
    user_sessions_end(user=user)
    user.username = f"deleted-{user.pk}"
    user.email = user.first_name = user.last_name = ""
    user.set_unusable_password()
    user.is_active = user.is_staff = user.is_superuser = False
    user.save()
    transaction.on_commit(partial(images.delete, names))


def user_sessions_end(*, user: AbstractBaseUser) -> None:
    """Log the user out of every browser and device where a session of theirs is listed."""
    usersessions_adapter().end_sessions(UserSession.objects.filter(user=user))


def _move(*, account_id: int, amount_micros: int, kind: str, **links) -> LedgerEntry:
    """Add `amount_micros` (negative to take) to a balance and write its ledger row; credits
    that come in pay what the account owes first, and arm the low-balance notice again once
    the balance is back to its threshold.

    Raises `InsufficientCredits` when taking would leave the balance below zero, `CreditsOwed`
    when a generation's hold finds the account owing. Callers run inside a transaction.
    """
    moved = ledger.balance_add(
        account_id=account_id, amount_micros=amount_micros, holds=kind == LedgerEntry.Kind.HOLD
    )
    if moved is None:
        owed_micros = Account.objects.values_list("owed_micros", flat=True).get(pk=account_id)
        raise CreditsOwed(owed_micros) if owed_micros else InsufficientCredits()
    entry = LedgerEntry.objects.create(
        account_id=account_id, kind=kind, amount_micros=amount_micros, **links
    )
    balance_micros = _pay_owed(account_id=account_id, balance_and_owed=moved)
    if amount_micros > 0:
        thresholds.low_balance_rearm(account_id=account_id, balance_micros=balance_micros)
    return entry


def _pay_owed(*, account_id: int, balance_and_owed: tuple[int, int]) -> int:
    """Pay what the account owes from its balance, as far as it goes; the balance after.

    `balance_and_owed` are the account's figures as the caller's update left them: that update
    holds the account's row lock, so they are exact."""
    balance_micros, owed_micros = balance_and_owed
    paid_micros = min(balance_micros, owed_micros)
    if paid_micros:
        Account.objects.filter(pk=account_id).update(
            balance_micros=F("balance_micros") - paid_micros,
            owed_micros=F("owed_micros") - paid_micros,
        )
        LedgerEntry.objects.create(
            account_id=account_id,
            kind=LedgerEntry.Kind.OWED_PAID,
            amount_micros=-paid_micros,
            owed_micros=-paid_micros,
            memo="Paid what a refunded or disputed card payment left owing",
        )
    return balance_micros - paid_micros


@transaction.atomic
def credits_take_back(
    *, account_id: int, amount_micros: int, kind: str, payment_id: int, memo: str
) -> LedgerEntry:
    """Take back credits a card payment gave, for its refund or dispute: from the balance as
    far as it goes, and the rest is owed."""
    if kind not in TAKEN_BACK_KINDS or amount_micros <= 0:
        raise ValueError("only a card refund or dispute takes back a positive amount")
    balance_micros = (
        Account.objects.select_for_update()
        .values_list("balance_micros", flat=True)
        .get(pk=account_id)
    )
    taken_micros = min(balance_micros, amount_micros)
    owed_micros = amount_micros - taken_micros
    Account.objects.filter(pk=account_id).update(
        balance_micros=F("balance_micros") - taken_micros,
        owed_micros=F("owed_micros") + owed_micros,
    )
    return LedgerEntry.objects.create(
        account_id=account_id,
        kind=kind,
        amount_micros=-taken_micros,
        owed_micros=owed_micros,
        payment_id=payment_id,
        memo=memo,
    )


@transaction.atomic
def credits_grant(
    *,
    account: Account,
    amount_micros: int,
    memo: str,
    reference: str | None = None,
    created_by: AbstractBaseUser | None = None,
) -> LedgerEntry:
    """Give credits. A `reference` already used makes the database refuse a second grant."""
    if amount_micros <= 0:
        raise ValueError("a grant must be positive")
    return _move(
        account_id=account.pk,
        amount_micros=amount_micros,
        kind=LedgerEntry.Kind.GRANT,
        memo=memo,
        reference=reference,
        created_by=created_by,
    )


@transaction.atomic
def credits_pay_in(*, account_id: int, amount_micros: int, payment_id: int) -> LedgerEntry:
    """Give what a card payment received. The ledger takes one such row per payment, so of two
    callers granting the same payment (its webhook and the browser's return) one fails with
    `IntegrityError`."""
    if amount_micros <= 0:
        raise ValueError("a payment must be positive")
    return _move(
        account_id=account_id,
        amount_micros=amount_micros,
        kind=LedgerEntry.Kind.PAYMENT,
        payment_id=payment_id,
    )


@transaction.atomic
def credits_adjust(
    *, account: Account, amount_micros: int, memo: str, created_by: AbstractBaseUser
) -> LedgerEntry:
    """A staff member adds (positive) or takes back (negative) credits; never below zero."""
    if not amount_micros:
        raise ValueError("an adjustment must not be zero")
    return _move(
        account_id=account.pk,
        amount_micros=amount_micros,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        memo=memo,
        created_by=created_by,
    )


@transaction.atomic(savepoint=False)
def credits_hold(
    *, user: AbstractBaseUser, api_key_id: int | None, generation_id, amount_micros: int
) -> None:
    """Reserve `amount_micros` for a generation, or raise if the balance or key limit is short."""
    if amount_micros < 0:
        raise ValueError("a hold must not be negative")
    account = getattr(user, "account", None)  # API key authentication loads it with the user
    if account is None:
        raise InsufficientCredits()
    _move(
        account_id=account.pk,
        amount_micros=-amount_micros,
        kind=LedgerEntry.Kind.HOLD,
        generation_id=generation_id,
        api_key_id=api_key_id,
    )
    if api_key_id is not None:
        _api_key_spend(api_key_id=api_key_id, amount_micros=amount_micros)


@transaction.atomic(savepoint=False)
def credits_settle(*, generation_id, cost_micros: int) -> int | None:
    """Release a generation's hold and capture what it cost (0 for a failure), charging the
    account and key the hold named; the account's balance after it.

    Settling twice, or after the stale-hold sweep released the hold, is a no-op that returns
    None: the ledger takes one release per generation.
    """
    holds = LedgerEntry.objects.only("account_id", "generation_id", "api_key_id", "amount_micros")
    try:
        hold = holds.get(generation_id=generation_id, kind=LedgerEntry.Kind.HOLD)
    except LedgerEntry.DoesNotExist:
        return None
    try:
        with transaction.atomic():
            return _release(hold=hold, cost_micros=cost_micros)
    except IntegrityError:  # the hold was released already
        return None


@transaction.atomic
def credits_release_stale(*, held_before: datetime, keep: Iterable[UUID] = ()) -> list[UUID]:
    """Release every hold older than `held_before` that was never settled, except the holds of
    the generations in `keep` (jobs still alive); their generation ids.

    For jobs whose worker died. Each hold is released exactly once: the accounts are locked
    (in pk order) before looking again, so a settle arriving at the same time either finishes
    first, and its hold is skipped here, or waits and then finds the release and does nothing.
    """
    stale = holds_unreleased(held_before=held_before).exclude(generation_id__in=list(keep))
    account_ids = sorted(set(stale.values_list("account_id", flat=True)))
    locked = list(
        Account.objects.select_for_update()
        .filter(pk__in=account_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    released = []
    holds = stale.filter(account_id__in=locked).only(
        "account_id", "generation_id", "api_key_id", "amount_micros"
    )
    for hold in holds.order_by("pk"):
        _release(hold=hold, cost_micros=0, memo="Released: the job stopped without finishing")
        released.append(hold.generation_id)
    return released


@transaction.atomic
def credits_refund(*, capture: LedgerEntry, memo: str, created_by: AbstractBaseUser) -> LedgerEntry:
    """Give back what a generation was charged, once."""
    if capture.kind != LedgerEntry.Kind.CAPTURE or not capture.amount_micros:
        raise NothingToRefund()
    Account.objects.select_for_update().filter(pk=capture.account_id).first()
    if LedgerEntry.objects.filter(
        generation_id=capture.generation_id, kind=LedgerEntry.Kind.REFUND
    ).exists():
        raise AlreadyRefunded()
    refund = _move(
        account_id=capture.account_id,
        amount_micros=-capture.amount_micros,
        kind=LedgerEntry.Kind.REFUND,
        generation_id=capture.generation_id,
        api_key_id=capture.api_key_id,
        memo=memo,
        created_by=created_by,
    )
    if capture.api_key_id is not None:
        _api_key_spend(api_key_id=capture.api_key_id, amount_micros=capture.amount_micros)
    return refund


def _release(*, hold: LedgerEntry, cost_micros: int, memo: str = "") -> int:
    """Give a hold back whole and charge `cost_micros`, in one balance update and one insert.

    The account is updated first, so its row lock is taken before the ledger's unique index
    entry, in the same order as the stale-hold sweep takes them: the two never deadlock, and
    a second release of the same hold fails on the index."""
    held_micros = -hold.amount_micros
    if not 0 <= cost_micros <= held_micros:
        raise ValueError(f"cost {cost_micros} is outside the hold of {held_micros}")
    balance_and_owed = ledger.balance_add(
        account_id=hold.account_id, amount_micros=held_micros - cost_micros
    )
    links = {
        "account_id": hold.account_id,
        "generation_id": hold.generation_id,
        "api_key_id": hold.api_key_id,
    }
    entries = [
        LedgerEntry(kind=LedgerEntry.Kind.RELEASE, amount_micros=held_micros, memo=memo, **links)
    ]
    if cost_micros:
        entries.append(
            LedgerEntry(kind=LedgerEntry.Kind.CAPTURE, amount_micros=-cost_micros, **links)
        )
    LedgerEntry.objects.bulk_create(entries)
    if hold.api_key_id is not None and held_micros != cost_micros:
        _api_key_spend(api_key_id=hold.api_key_id, amount_micros=cost_micros - held_micros)
    return _pay_owed(account_id=hold.account_id, balance_and_owed=balance_and_owed)


def _api_key_spend(*, api_key_id: int, amount_micros: int) -> None:
    """Count `amount_micros` against a key's spend (negative to give back).

    Raises `SpendLimitReached` when counting would pass the key's limit. Callers run inside a
    transaction."""
    if not ledger.spend_add(api_key_id=api_key_id, amount_micros=amount_micros):
        raise SpendLimitReached()


@transaction.atomic
def credits_redeem(*, user: AbstractBaseUser, code: str) -> LedgerEntry:
    """Turn a code into credits. Of two simultaneous redemptions, exactly one wins."""
    code = redeem_code_normalize(code)
    now = timezone.now()
    unused = RedeemCode.objects.filter(code=code, redeemed_at__isnull=True)
    claimed = unused.exclude(expires_at__lte=now).update(redeemed_by=user, redeemed_at=now)
    redeem_code = RedeemCode.objects.filter(code=code).first()
    if redeem_code is None:
        raise RedeemCodeUnknown()
    if not claimed:
        raise RedeemCodeUsed() if redeem_code.redeemed_at else RedeemCodeExpired()
    account = account_open(user=user)
    return _move(
        account_id=account.pk,
        amount_micros=redeem_code.amount_micros,
        kind=LedgerEntry.Kind.REDEEM,
        redeem_code=redeem_code,
        memo=f"Code {redeem_code.code}",
    )


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


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Stop a key working from now on; False if it was already revoked."""
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    api_key_forget(key_hashes=[api_key.key_hash])
    return bool(revoked)


def webhook_secret_get(*, user_id: int) -> WebhookSecret:
    """The user's webhook secret, made on first use (when shown, or when a webhook is signed)."""
    webhook_secret, _ = WebhookSecret.objects.get_or_create(
        user_id=user_id, defaults={"secret": _webhook_secret_new()}
    )
    return webhook_secret


@transaction.atomic
def webhook_secret_rotate(*, user_id: int) -> WebhookSecret:
    """A new secret signs from now on; the one it replaces signs too for `WebhookSecret.GRACE`
    (one rotated away earlier stops at once)."""
    webhook_secret = webhook_secret_get(user_id=user_id)
    webhook_secret = WebhookSecret.objects.select_for_update().get(pk=webhook_secret.pk)
    webhook_secret.previous_secret = webhook_secret.secret
    webhook_secret.secret = _webhook_secret_new()
    webhook_secret.rotated_at = timezone.now()
    webhook_secret.save(update_fields=["previous_secret", "secret", "rotated_at"])
    return webhook_secret


def _webhook_secret_new() -> str:
    return WebhookSecret.PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The usable key that `raw_key` is, or `InvalidApiKey`. Hashes compare in constant time.

    A usable key is cached under its hash for `API_KEY_CACHE_SECONDS`, with only what the API
    uses of its user and account (no password hash, no balance: balances move by conditional
    updates, never from this copy)."""
    key_hash = hash_api_key(raw_key)
    cache_key = _api_key_cache_key(key_hash)
    api_key = cache.get(cache_key)
    cached = api_key is not None
    if not cached:
        api_key = (
            ApiKey.objects.select_related("user__account")
            .only(
                "key_hash",
                "last_used_at",
                "expires_at",
                "revoked_at",
                "user__is_active",
                "user__account__id",
            )
            .filter(prefix=raw_key[: ApiKey.PREFIX_LENGTH])
            .first()
        )
        if api_key is None or not constant_time_compare(api_key.key_hash, key_hash):
            raise InvalidApiKey()
    if not api_key.is_usable or not api_key.user.is_active:
        raise InvalidApiKey()
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
        cached = False
    if not cached:
        cache.set(cache_key, api_key, API_KEY_CACHE_SECONDS)
    return api_key


def api_key_forget(*, key_hashes: Iterable[str]) -> None:
    """Drop keys from the authentication cache, so the next call reads them again."""
    cache.delete_many([_api_key_cache_key(key_hash) for key_hash in key_hashes])


def api_key_forget_deleted(*, instance: ApiKey, **_) -> None:
    """A receiver of `post_delete` for keys (also when their user is deleted)."""
    api_key_forget(key_hashes=[instance.key_hash])


def api_key_forget_users(*, instance: AbstractBaseUser, created: bool, update_fields, **_) -> None:
    """A receiver of `post_save` for users: a user deactivated in the admin stops their keys at
    once. A save of only `last_login` (every sign-in) leaves them."""
    if not created and (update_fields is None or "is_active" in update_fields):
        api_key_forget(key_hashes=instance.api_keys.values_list("key_hash", flat=True))


def _api_key_cache_key(key_hash: str) -> str:
    return f"api-key:{key_hash}"
