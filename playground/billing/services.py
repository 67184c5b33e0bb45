"""Card payments: top-ups, what Stripe tells us of them, and auto top-up; and the low-balance
notice, which fires after a charge as auto top-up does.

The server creates a PaymentIntent for the amount a user chose, tied to their account in its
metadata; the browser confirms it with Stripe.js, so card details never reach this server.
Credits are what Stripe says it received (`amount_received`), granted by `payment_succeeded`
from the signed webhook or from the browser's return, whichever comes first, once: the
payment's row is locked while it is granted and the ledger takes one grant per payment.
Refunds and disputes take the credits back (`payment_refunded`, `payment_disputed`); what the
balance no longer has is owed (accounts' `credits_take_back`).

Stripe objects come in as plain dicts (an event's object, or a retrieved intent's `to_dict()`).
"""

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from playground.accounts.models import Account, LedgerEntry
from playground.accounts.money import format_usd
from playground.accounts.selectors import email_is_verified
from playground.accounts.services import account_open, credits_pay_in, credits_take_back

from . import stripe_api, tasks, thresholds
from .errors import CardSetupFailed, EmailNotVerified, PaymentsUnavailable
from .models import BillingProfile, Payment
from .selectors import billing_profile_of

logger = logging.getLogger(__name__)

MICROS_PER_CENT = 10_000
CURRENCY = "usd"
StripeObject = Mapping[str, Any]


def micros_to_cents(micros: int) -> int:
    return micros // MICROS_PER_CENT


def cents_to_micros(cents: int) -> int:
    return int(cents) * MICROS_PER_CENT


def billing_profile(*, account: Account) -> BillingProfile:
    """The account's billing profile, with its Stripe customer made on first use (a profile
    made for the low-balance notice alone has none yet)."""
    profile = BillingProfile.objects.filter(account=account).first()
    if profile is not None and profile.customer_id:
        return profile
    with _stripe():
        customer = stripe_api.client().v1.customers.create(
            params={"metadata": {"account_id": str(account.pk)}},
            options={"idempotency_key": f"customer-of-account-{account.pk}"},
        )
    profile, _ = BillingProfile.objects.get_or_create(account=account)
    BillingProfile.objects.filter(pk=profile.pk, customer_id=None).update(customer_id=customer.id)
    profile.refresh_from_db(fields=["customer_id"])
    return profile


def _require_verified_email(*, user_id: int) -> None:
    """Card payments and saved cards need a verified primary email (`EmailNotVerified`)."""
    if not email_is_verified(user_id=user_id):
        raise EmailNotVerified()


def top_up_start(*, user: AbstractBaseUser, amount_micros: int) -> tuple[Payment, str]:
    """A PaymentIntent for `amount_micros` and its client secret, which Stripe.js confirms."""
    _require_verified_email(user_id=user.pk)
    account = account_open(user=user)
    profile = billing_profile(account=account)
    with _stripe():
        intent = stripe_api.client().v1.payment_intents.create(
            params=_intent_params(profile, amount_micros=amount_micros, description="Credits")
        )
    payment = Payment.objects.create(
        account=account, intent_id=intent.id, amount_micros=amount_micros
    )
    return payment, intent.client_secret


def _intent_params(
    profile: BillingProfile, *, amount_micros: int, description: str, **metadata: str
) -> dict[str, Any]:
    """What every PaymentIntent made here says: the amount in cents, the account's customer, a
    card, and the account in its metadata (whom the webhook grants)."""
    return {
        "amount": micros_to_cents(amount_micros),
        "currency": CURRENCY,
        "customer": profile.customer_id,
        "payment_method_types": ["card"],
        "description": description,
        "metadata": {"account_id": str(profile.account_id), **metadata},
    }


def payment_refresh(*, payment: Payment) -> Payment:
    """The browser's return: ask Stripe how a pending payment stands and act on it as its
    webhook would, so the page need not wait for the webhook."""
    if payment.status != Payment.Status.PENDING:
        return payment
    with _stripe():
        intent = stripe_api.client().v1.payment_intents.retrieve(
            payment.intent_id, params={"expand": ["latest_charge"]}
        )
    intent = intent.to_dict()
    if intent["status"] == "succeeded":
        return payment_succeeded(intent=intent) or payment
    if intent["status"] == "canceled" or intent.get("last_payment_error"):
        return payment_failed(intent=intent) or payment
    return payment  # not confirmed yet, or still processing


@transaction.atomic
def payment_succeeded(*, intent: StripeObject) -> Payment | None:
    """Grant what a succeeded PaymentIntent received, once. None for an intent not ours."""
    if intent.get("status") != "succeeded" or intent.get("currency") != CURRENCY:
        logger.warning("payment %s: not a succeeded %s intent", intent.get("id"), CURRENCY)
        return None
    payment = _payment_locked(intent)
    if payment is None or payment.status == Payment.Status.SUCCEEDED:
        return payment
    received_micros = cents_to_micros(intent["amount_received"])
    payment.status = Payment.Status.SUCCEEDED
    payment.received_micros = received_micros
    payment.failure_message = ""
    charge = intent.get("latest_charge")  # its id, or the charge when it was expanded
    if isinstance(charge, str):
        payment.charge_id = charge
    elif charge:
        payment.charge_id = charge["id"]
        payment.receipt_url = charge.get("receipt_url") or ""
    payment.save(
        update_fields=[
            "status",
            "received_micros",
            "failure_message",
            "charge_id",
            "receipt_url",
            "updated_at",
        ]
    )
    if received_micros:
        credits_pay_in(
            account_id=payment.account_id, amount_micros=received_micros, payment_id=payment.pk
        )
    BillingProfile.objects.filter(account_id=payment.account_id).update(armed=True)
    return payment


@transaction.atomic
def payment_failed(*, intent: StripeObject) -> Payment | None:
    """Record a failed attempt to pay; a failed auto top-up turns auto top-up off."""
    payment = _payment_locked(intent)
    if payment is None or payment.status == Payment.Status.SUCCEEDED:
        return payment
    error = intent.get("last_payment_error") or {}
    payment.status = Payment.Status.FAILED
    payment.failure_message = (error.get("message") or "The payment failed.")[:500]
    payment.save(update_fields=["status", "failure_message", "updated_at"])
    if payment.automatic:
        auto_top_up_stop(account_id=payment.account_id, reason=payment.failure_message)
    return payment


@transaction.atomic
def charge_succeeded(*, charge: StripeObject) -> None:
    """Keep a payment's charge and Stripe's receipt link."""
    Payment.objects.filter(intent_id=charge.get("payment_intent") or "").update(
        charge_id=charge["id"], receipt_url=charge.get("receipt_url") or ""
    )


@transaction.atomic
def payment_refunded(*, charge: StripeObject) -> LedgerEntry | None:
    """Take back what a refund returned to the card (`amount_refunded` counts all of a charge's
    refunds, so a refund delivered twice, or two partial refunds in any order, take exactly
    what was refunded)."""
    payment = _payment_of_charge(charge)
    if payment is None:
        return None
    refunded_micros = cents_to_micros(charge["amount_refunded"])
    more_micros = refunded_micros - payment.refunded_micros
    if more_micros <= 0:
        return None
    payment.refunded_micros = refunded_micros
    payment.save(update_fields=["refunded_micros", "updated_at"])
    return credits_take_back(
        account_id=payment.account_id,
        amount_micros=more_micros,
        kind=LedgerEntry.Kind.PAYMENT_REFUND,
        payment_id=payment.pk,
        memo=f"{format_usd(more_micros)} refunded to the card",
    )


@transaction.atomic
def payment_disputed(*, dispute: StripeObject) -> LedgerEntry | None:
    """Take back what a dispute withdrew. A charge has at most one dispute."""
    payment = _payment_of_charge(
        {"id": dispute["charge"], "payment_intent": dispute.get("payment_intent")}
    )
    if payment is None or payment.dispute_id:
        return None
    payment.dispute_id = dispute["id"]
    payment.save(update_fields=["dispute_id", "updated_at"])
    amount_micros = cents_to_micros(dispute["amount"])
    reason = str(dispute.get("reason") or "").replace("_", " ")
    return credits_take_back(
        account_id=payment.account_id,
        amount_micros=amount_micros,
        kind=LedgerEntry.Kind.DISPUTE,
        payment_id=payment.pk,
        memo=f"{format_usd(amount_micros)} disputed" + (f" ({reason})" if reason else ""),
    )


def _payment_locked(intent: StripeObject) -> Payment | None:
    """The payment of an intent, locked; recorded first if this is the first word of it (an
    auto top-up's webhook may come before its task records it). None for an intent that names
    no account here."""
    payments = Payment.objects.select_for_update()
    payment = payments.filter(intent_id=intent["id"]).first()
    if payment is not None:
        return payment
    metadata = intent.get("metadata") or {}
    account_id = metadata.get("account_id")
    if not str(account_id or "").isdigit() or not Account.objects.filter(pk=account_id).exists():
        logger.warning("payment %s names no account here", intent["id"])
        return None
    try:
        with transaction.atomic():
            Payment.objects.create(
                account_id=int(account_id),
                intent_id=intent["id"],
                amount_micros=cents_to_micros(intent["amount"]),
                automatic=metadata.get("auto_top_up") == "yes",
            )
    except IntegrityError:  # recorded meanwhile by the other path
        pass
    return payments.get(intent_id=intent["id"])


def _payment_of_charge(charge: StripeObject) -> Payment | None:
    payments = Payment.objects.select_for_update()
    payment = (
        payments.filter(intent_id=charge.get("payment_intent") or "").first()
        or payments.filter(charge_id=charge["id"]).first()
    )
    if payment is None:
        logger.warning("charge %s is of no payment here", charge["id"])
    return payment


# Auto top-up


def card_setup_start(*, user: AbstractBaseUser) -> str:
    """A SetupIntent's client secret, with which Stripe.js saves a card for off-session use."""
    _require_verified_email(user_id=user.pk)
    profile = billing_profile(account=account_open(user=user))
    with _stripe():
        setup_intent = stripe_api.client().v1.setup_intents.create(
            params={
                "customer": profile.customer_id,
                "usage": "off_session",
                "payment_method_types": ["card"],
            }
        )
    return setup_intent.client_secret


def card_setup_finish(*, user: AbstractBaseUser, setup_intent_id: str) -> BillingProfile:
    """Keep the card a SetupIntent of this user's saved."""
    if not setup_intent_id.startswith("seti_"):
        raise CardSetupFailed()
    profile = billing_profile(account=account_open(user=user))
    with _stripe():
        client = stripe_api.client()
        setup_intent = client.v1.setup_intents.retrieve(setup_intent_id)
        if setup_intent.customer != profile.customer_id or setup_intent.status != "succeeded":
            raise CardSetupFailed()
        method = client.v1.payment_methods.retrieve(setup_intent.payment_method)
    card = method.card
    profile.payment_method_id = method.id
    profile.card_label = (
        f"{card.brand.title()} •••• {card.last4}, expires {card.exp_month}/{card.exp_year}"
    )
    profile.save(update_fields=["payment_method_id", "card_label"])
    return profile


def auto_top_up_configure(
    *, user_id: int, enabled: bool, threshold_micros: int, amount_micros: int
) -> BillingProfile:
    """Turn auto top-up on (it needs a saved card) or off; either way it is armed afresh and
    an earlier failure's notice is read."""
    if enabled:
        _require_verified_email(user_id=user_id)
    profile = billing_profile_of(user_id=user_id)
    if profile is None or (enabled and not profile.payment_method_id):
        raise CardSetupFailed("Save a card first: auto top-up pays with it.")
    profile.auto_top_up = enabled
    profile.threshold_micros = threshold_micros
    profile.amount_micros = amount_micros
    profile.armed = True
    profile.notice = ""
    profile.save(
        update_fields=["auto_top_up", "threshold_micros", "amount_micros", "armed", "notice"]
    )
    return profile


def thresholds_after_charge(*, user_id: int, balance_micros: int) -> None:
    """After a charge left the balance at `balance_micros`: pay an auto top-up and send the
    low-balance notice, each if the charge took the balance below its threshold while it was
    armed, once per crossing (`thresholds.py`). Every charged generation runs it."""
    fired = thresholds.thresholds_fire(user_id=user_id, balance_micros=balance_micros)
    if fired.auto_top_up:
        transaction.on_commit(lambda: tasks.auto_top_up.enqueue(user_id=user_id))
    if fired.low_balance:
        transaction.on_commit(lambda: tasks.low_balance_notice.enqueue(user_id=user_id))


def auto_top_up_pay(*, user_id: int) -> Payment | None:
    """Pay an auto top-up off-session with the saved card (the task's work). A decline or a
    card that needs its holder turns auto top-up off and leaves a notice for the user."""
    profile = billing_profile_of(user_id=user_id)
    if profile is None or not profile.auto_top_up or profile.armed:
        return None  # turned off meanwhile, or a payment already came in
    try:
        intent = stripe_api.client().v1.payment_intents.create(
            params=_intent_params(
                profile,
                amount_micros=profile.amount_micros,
                description="Credits (auto top-up)",
                auto_top_up="yes",
            )
            | {"payment_method": profile.payment_method_id, "off_session": True, "confirm": True},
            options={"idempotency_key": f"auto-top-up-{profile.pk}-{profile.crossings}"},
        )
    except stripe_api.CardError as exc:
        failed = exc.error.payment_intent if exc.error else None
        if failed is not None:
            return payment_failed(intent=failed.to_dict())
        auto_top_up_stop(account_id=profile.account_id, reason=exc.user_message or str(exc))
        return None
    except stripe_api.PASSING_ERRORS:
        logger.exception("auto top-up of account %s: Stripe did not answer", profile.account_id)
        BillingProfile.objects.filter(pk=profile.pk).update(armed=True)  # the next charge retries
        return None
    except stripe_api.StripeError as exc:
        logger.exception("auto top-up of account %s: Stripe refused it", profile.account_id)
        auto_top_up_stop(account_id=profile.account_id, reason=exc.user_message or str(exc))
        return None
    intent = intent.to_dict()
    if intent["status"] == "succeeded":
        return payment_succeeded(intent=intent)
    if intent["status"] == "processing":
        with transaction.atomic():
            return _payment_locked(intent)  # its webhook settles it
    return payment_failed(intent=intent)


def auto_top_up_stop(*, account_id: int, reason: str) -> None:
    BillingProfile.objects.filter(account_id=account_id).update(
        auto_top_up=False,
        armed=True,
        notice=f"Auto top-up is off: {reason} Check your card and turn it on again."[:500],
    )


def notice_dismiss(*, user_id: int) -> None:
    BillingProfile.objects.filter(account__user_id=user_id).update(notice="")


# Low-balance notice

LOW_BALANCE_SUBJECT = "Your credits are running low"


def low_balance_configure(
    *, user: AbstractBaseUser, enabled: bool, threshold_micros: int
) -> BillingProfile:
    """Turn the low-balance notice on at a threshold, or off. Either way it is armed afresh:
    a balance already below the threshold is told of at the next charge."""
    profile, _ = BillingProfile.objects.update_or_create(
        account=account_open(user=user),
        defaults={
            "low_balance_notice": enabled,
            "low_balance_threshold_micros": threshold_micros,
            "low_balance_armed": True,
        },
    )
    return profile


def low_balance_notify(*, user_id: int) -> bool:
    """Email the low-balance notice (the task's work); False when it was turned off or credits
    armed it again meanwhile, or the user has no email address."""
    profile = billing_profile_of(user_id=user_id)
    if profile is None or not profile.low_balance_notice or profile.low_balance_armed:
        return False
    user = profile.account.user
    if not user.email:
        return False
    context = {
        "user": user,
        "balance_micros": profile.account.balance_micros,
        "threshold_micros": profile.low_balance_threshold_micros,
        "top_up_url": _site_url("billing:top-up"),
        "settings_url": _site_url("billing:low-balance"),
    }
    message = EmailMultiAlternatives(
        subject=LOW_BALANCE_SUBJECT,
        body=render_to_string("billing/email/low_balance.txt", context),
        to=[user.email],
    )
    message.attach_alternative(
        render_to_string("billing/email/low_balance.html", context), "text/html"
    )
    message.send()
    logger.info("low-balance notice sent", extra={"user_id": user_id})
    return True


def _site_url(name: str) -> str:
    """A page's absolute address, for emails (read outside any request)."""
    return settings.SITE_URL.rstrip("/") + reverse(name)


@contextmanager
def _stripe() -> Iterator[None]:
    """Turns Stripe's own failures (unreachable, a key refused) into `PaymentsUnavailable`."""
    try:
        yield
    except stripe_api.CardError:
        raise
    except stripe_api.StripeError as exc:
        logger.warning("Stripe refused or did not answer: %s", exc)
        raise PaymentsUnavailable() from exc
