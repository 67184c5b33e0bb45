"""What card payments do to the ledger: a payment granted once, refunds and disputes taken back
as far as the balance goes and the rest owed, owed credits paid first by whatever comes in, and
an account that owes starting nothing. `check_ledger` holds after every step.

Stripe's objects are given as the webhook would carry them (plain dicts); the wire is
tests/test_billing_stripe.py's.
"""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from playground.accounts.errors import CreditsOwed
from playground.accounts.models import Account, LedgerEntry
from playground.accounts.services import (
    credits_grant,
    credits_hold,
    credits_pay_in,
    credits_settle,
)
from playground.billing import services
from playground.billing.models import BillingProfile, Payment
from playground.catalog.models import ImageModel
from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db

USD = 1_000_000


@pytest.fixture(autouse=True)
def _models(catalog):
    """Generations need a model of the catalog."""


def account_of(user) -> Account:
    return Account.objects.get(user=user)


def pending_payment(user, *, cents: int = 2500, intent_id: str = "pi_test_1") -> Payment:
    return Payment.objects.create(
        account=account_of(user), intent_id=intent_id, amount_micros=cents * 10_000
    )


def succeeded_intent(payment: Payment, *, cents: int | None = None) -> dict:
    received = payment.amount_micros // 10_000 if cents is None else cents
    return {
        "id": payment.intent_id,
        "object": "payment_intent",
        "status": "succeeded",
        "currency": "usd",
        "amount": payment.amount_micros // 10_000,
        "amount_received": received,
        "latest_charge": f"ch_{payment.intent_id}",
        "metadata": {"account_id": str(payment.account_id)},
    }


def charge(payment: Payment, *, refunded_cents: int) -> dict:
    return {
        "id": f"ch_{payment.intent_id}",
        "object": "charge",
        "payment_intent": payment.intent_id,
        "amount": payment.amount_micros // 10_000,
        "amount_refunded": refunded_cents,
        "refunded": refunded_cents * 10_000 == payment.amount_micros,
    }


def dispute(payment: Payment, *, cents: int, dispute_id: str = "dp_1") -> dict:
    return {
        "id": dispute_id,
        "object": "dispute",
        "charge": f"ch_{payment.intent_id}",
        "payment_intent": payment.intent_id,
        "amount": cents,
        "currency": "usd",
        "reason": "fraudulent",
        "status": "needs_response",
    }


def new_generation(user) -> Generation:
    return Generation.objects.create(
        user=user, model=ImageModel.objects.first(), prompt="a cat", width=64, height=64, seed=1
    )


def spend(user, amount_micros: int) -> None:
    """A generation charged `amount_micros`."""
    generation = new_generation(user)
    credits_hold(
        user=user, api_key_id=None, generation_id=generation.pk, amount_micros=amount_micros
    )
    credits_settle(generation_id=generation.pk, cost_micros=amount_micros)


def test_a_payment_grants_what_stripe_received_once_however_often_it_is_told(user):
    payment = pending_payment(user)
    intent = succeeded_intent(payment, cents=2400)  # Stripe's figure, not what was asked

    for _ in range(3):
        services.payment_succeeded(intent=intent)

    payment.refresh_from_db()
    assert (payment.status, payment.received_micros) == (Payment.Status.SUCCEEDED, 24 * USD)
    grants = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT)
    assert [(entry.amount_micros, entry.payment_id) for entry in grants] == [(24 * USD, payment.pk)]
    assert factories.balance_micros(user) == 25 * USD  # with the starter dollar
    factories.assert_ledger_holds()


def test_the_database_refuses_a_second_grant_of_one_payment(user):
    payment = pending_payment(user)
    credits_pay_in(account_id=payment.account_id, amount_micros=USD, payment_id=payment.pk)
    with pytest.raises(IntegrityError):
        credits_pay_in(account_id=payment.account_id, amount_micros=USD, payment_id=payment.pk)


def test_an_intent_naming_no_account_here_grants_nothing(user):
    payment = pending_payment(user)
    stranger = succeeded_intent(payment) | {"id": "pi_elsewhere", "metadata": {}}

    assert services.payment_succeeded(intent=stranger) is None
    assert services.payment_succeeded(intent=stranger | {"metadata": {"account_id": "999"}}) is None
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).exists()


def test_partial_refunds_take_back_what_was_refunded_in_total_whatever_the_order(user):
    payment = pending_payment(user)
    services.payment_succeeded(intent=succeeded_intent(payment))

    services.payment_refunded(charge=charge(payment, refunded_cents=500))
    services.payment_refunded(charge=charge(payment, refunded_cents=1200))
    services.payment_refunded(charge=charge(payment, refunded_cents=500))  # late, repeated
    services.payment_refunded(charge=charge(payment, refunded_cents=1200))

    taken = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT_REFUND).order_by("pk")
    assert [entry.amount_micros for entry in taken] == [-5 * USD, -7 * USD]
    assert factories.balance_micros(user) == 14 * USD
    factories.assert_ledger_holds()


def test_a_refund_after_the_credits_were_spent_leaves_the_rest_owed_and_stops_generations(user):
    payment = pending_payment(user)
    services.payment_succeeded(intent=succeeded_intent(payment))
    spend(user, 23 * USD)  # $3 left of $26

    services.payment_refunded(charge=charge(payment, refunded_cents=2500))

    account = account_of(user)
    assert (account.balance_micros, account.owed_micros) == (0, 22 * USD)
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.PAYMENT_REFUND)
    assert (entry.amount_micros, entry.owed_micros) == (-3 * USD, 22 * USD)
    assert entry.worth_change_micros == -25 * USD
    factories.assert_ledger_holds()
    generation = new_generation(user)
    with pytest.raises(CreditsOwed, match=r"owes \$22\.00"):
        credits_hold(user=user, api_key_id=None, generation_id=generation.pk, amount_micros=0)


def test_credits_that_come_in_pay_what_is_owed_first(user):
    payment = pending_payment(user)
    services.payment_succeeded(intent=succeeded_intent(payment))
    spend(user, 26 * USD)
    services.payment_disputed(dispute=dispute(payment, cents=2500))
    assert account_of(user).owed_micros == 25 * USD

    credits_grant(account=account_of(user), amount_micros=10 * USD, memo="goodwill")
    account = account_of(user)
    assert (account.balance_micros, account.owed_micros) == (0, 15 * USD)

    second = pending_payment(user, cents=5000, intent_id="pi_test_2")
    services.payment_succeeded(intent=succeeded_intent(second))
    account = account_of(user)
    assert (account.balance_micros, account.owed_micros) == (35 * USD, 0)
    paid = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.OWED_PAID).order_by("pk")
    assert [(entry.amount_micros, entry.owed_micros) for entry in paid] == [
        (-10 * USD, -10 * USD),
        (-15 * USD, -15 * USD),
    ]
    factories.assert_ledger_holds()
    spend(user, USD)  # generations start again


def test_a_hold_released_while_the_account_owes_pays_the_debt(user):
    payment = pending_payment(user)
    services.payment_succeeded(intent=succeeded_intent(payment))
    generation = new_generation(user)
    credits_hold(user=user, api_key_id=None, generation_id=generation.pk, amount_micros=20 * USD)

    services.payment_refunded(charge=charge(payment, refunded_cents=2500))  # $6 left, $19 owed
    balance = credits_settle(generation_id=generation.pk, cost_micros=5 * USD)

    account = account_of(user)
    assert balance == account.balance_micros == 0
    assert account.owed_micros == 4 * USD  # the $15 given back went to the debt
    factories.assert_ledger_holds()


def test_a_dispute_takes_back_once(user):
    payment = pending_payment(user)
    services.payment_succeeded(intent=succeeded_intent(payment))

    services.payment_disputed(dispute=dispute(payment, cents=2500))
    services.payment_disputed(dispute=dispute(payment, cents=2500))

    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.DISPUTE)
    assert (entry.amount_micros, entry.memo) == (-25 * USD, "$25.00 disputed (fraudulent)")
    assert factories.balance_micros(user) == USD
    payment.refresh_from_db()
    assert payment.dispute_id == "dp_1"
    factories.assert_ledger_holds()


def test_check_ledger_finds_a_debt_no_row_explains(user):
    Account.objects.filter(user=user).update(owed_micros=5)

    with pytest.raises(CommandError, match="difference"):
        call_command("check_ledger", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_failed_auto_top_up_turns_auto_top_up_off_with_a_notice(user):
    account = account_of(user)
    BillingProfile.objects.create(
        account=account,
        customer_id="cus_1",
        payment_method_id="pm_1",
        auto_top_up=True,
        threshold_micros=5 * USD,
        amount_micros=20 * USD,
        armed=False,
    )
    intent = {
        "id": "pi_auto",
        "status": "requires_payment_method",
        "currency": "usd",
        "amount": 2000,
        "metadata": {"account_id": str(account.pk), "auto_top_up": "yes"},
        "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
    }

    payment = services.payment_failed(intent=intent)

    assert (payment.status, payment.automatic) == (Payment.Status.FAILED, True)
    profile = BillingProfile.objects.get()
    assert (profile.auto_top_up, profile.armed) == (False, True)
    assert profile.notice.startswith("Auto top-up is off: Your card was declined.")


def test_auto_top_up_fires_once_per_crossing(user, django_capture_on_commit_callbacks):
    BillingProfile.objects.create(
        account=account_of(user),
        customer_id="cus_1",
        payment_method_id="pm_1",
        auto_top_up=True,
        threshold_micros=5 * USD,
        amount_micros=20 * USD,
    )
    with django_capture_on_commit_callbacks() as callbacks:
        services.thresholds_after_charge(user_id=user.pk, balance_micros=6 * USD)  # above
        services.thresholds_after_charge(user_id=user.pk, balance_micros=4 * USD)  # crosses
        services.thresholds_after_charge(user_id=user.pk, balance_micros=3 * USD)  # still below

    assert len(callbacks) == 1
    profile = BillingProfile.objects.get()
    assert (profile.armed, profile.crossings) == (False, 1)
