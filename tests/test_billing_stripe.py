"""Card top-ups on the wire: the site talks to Stripe's API through the official library, and
Stripe's signed webhooks reach the running site over HTTP.

Stripe here is localstripe (a separate process) behind tests/fakes/stripe.py, which adds what
localstripe lacks and Stripe's API reference defines: confirming a PaymentIntent with card
details as Stripe.js does, `amount_received`, `charge.refunded` events, disputes and their
events, and signing each delivery with this endpoint's secret.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from playground.accounts.models import Account, LedgerEntry
from playground.accounts.services import credits_grant
from playground.billing import stripe_api
from playground.billing.models import BillingProfile, Payment
from playground.billing.services import thresholds_after_charge
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

USD = 1_000_000
DECLINED = "4000000000000341"  # attaches to a customer, then every charge is declined
FOUR_CATS = {"model": "qwen-image", "prompt": "a cat", "n": 4, "size": "1024x1024"}


@pytest.fixture
def stripe(stripe_fake, live_server):
    """Stripe, delivering its events to the running site's webhook."""
    stripe_fake.deliver_to(f"{live_server.url}{reverse('stripe-webhook')}")
    return stripe_fake


@pytest.fixture
def browser_of(catalog):
    """Signed-in test clients, a browser tab's session each, with the catalog loaded."""
    return factories.signed_in_client


def account(user) -> Account:
    return Account.objects.get(user=user)


def start_top_up(tab: Client, amount: str = "25", other: str = "") -> dict:
    response = tab.post(reverse("billing:top-up-start"), {"amount": amount, "other": other})
    assert response.status_code == 200, response.content
    return response.json()


def intent_of(started: dict) -> str:
    return started["client_secret"].split("_secret_")[0]


def pay(stripe, tab: Client, amount: str = "25", other: str = "") -> str:
    """Pay as the page does: the server makes the intent, Stripe.js confirms it with a card."""
    started = start_top_up(tab, amount, other)
    intent = intent_of(started)
    confirmed = stripe.confirm_with_card(intent, started["client_secret"])
    assert confirmed["status"] == "succeeded"
    return intent


def granted(user) -> list[int]:
    entries = LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.PAYMENT)
    return list(entries.order_by("pk").values_list("amount_micros", flat=True))


def test_a_top_up_is_granted_by_the_signed_webhook_once_even_when_delivered_again(
    stripe, user, browser_of
):
    tab = browser_of(user)

    intent = pay(stripe, tab)
    delivery = stripe.wait_for_delivery("payment_intent.succeeded")

    assert delivery.status == 200
    payment = Payment.objects.get(intent_id=intent)
    assert (payment.status, payment.received_micros) == (Payment.Status.SUCCEEDED, 25 * USD)
    assert granted(user) == [25 * USD]
    assert factories.balance_micros(user) == 26 * USD
    # Stripe delivers an event again when it is not sure it arrived: same id, new signature.
    again = stripe.resend(delivery)
    assert again.status == 200
    assert granted(user) == [25 * USD]
    # The charge's receipt, for the payments page.
    stripe.wait_for_delivery("charge.succeeded")
    payment.refresh_from_db()
    assert payment.receipt_url.startswith(stripe.url)
    factories.assert_ledger_holds()


def test_the_payers_page_and_the_webhook_grant_once_whichever_comes_first(
    stripe, user, browser_of, live_server
):
    stripe.deliver_to(None)  # the webhook is late
    tab = browser_of(user)
    started = start_top_up(tab, "other", "12.34")
    intent = intent_of(started)
    payment_url = started["payment_url"]

    pending = tab.get(payment_url)
    assert "Pending" in pending.text  # not paid yet: Stripe says so too
    stripe.confirm_with_card(intent, started["client_secret"])
    paid = tab.get(payment_url, headers={"HX-Request": "true"})

    assert "Paid: $12.34 added" in paid.text
    assert "balance-changed" in paid.headers["HX-Trigger"]
    assert granted(user) == [12_340_000]
    late = stripe.wait_for_delivery("payment_intent.succeeded")  # recorded, not sent
    stripe.deliver_to(f"{live_server.url}{reverse('stripe-webhook')}")
    assert stripe.resend(late).status == 200
    assert granted(user) == [12_340_000]
    factories.assert_ledger_holds()


def test_anything_not_signed_by_stripe_for_this_endpoint_is_refused_and_changes_nothing(
    stripe, user, browser_of, live_server
):
    stripe.deliver_to(None)
    pay(stripe, browser_of(user))
    real = stripe.wait_for_delivery("payment_intent.succeeded")
    url = f"{live_server.url}{reverse('stripe-webhook')}"
    now = int(time.time())
    attempts = {
        "unsigned": {},
        "signed with another secret": {
            "Stripe-Signature": stripe.sign(real.payload, secret="whsec_not_this_endpoint")
        },
        "signature of another body": {"Stripe-Signature": stripe.sign(b'{"id": "evt_other"}')},
        "signed ten minutes ago": {
            "Stripe-Signature": stripe.sign(real.payload, timestamp=now - 600)
        },
        "not a signature": {"Stripe-Signature": "t=abc,v1=zzz"},
    }

    for name, headers in attempts.items():
        answer = httpx.post(
            url, content=real.payload, headers={"Content-Type": "application/json", **headers}
        )
        assert answer.status_code == 400, name

    assert granted(user) == []
    assert Payment.objects.get().status == Payment.Status.PENDING
    assert httpx.get(url).status_code == 405


def test_a_refund_after_the_credits_were_spent_leaves_a_debt_that_stops_generations(
    stripe, browser_of, live_server, settings
):
    settings.STARTER_CREDITS_USD = "0"
    settings.TOPUP_MIN_USD = "0.50"
    user = factories.user_with_account()
    api = factories.api_client(live_server.url, factories.raw_api_key(user=user), timeout=60)
    intent = pay(stripe, browser_of(user), "other", "0.50")
    stripe.wait_for_delivery("payment_intent.succeeded")
    while (answer := api.post("/images/generations", json=FOUR_CATS)).status_code == 200:
        pass  # spend it
    assert answer.json()["error"]["code"] == "insufficient_credits"
    left_micros = factories.balance_micros(user)
    assert 0 < left_micros < 500_000

    client = stripe_api.client()
    client.v1.refunds.create(params={"payment_intent": intent, "amount": 10})
    stripe.wait_for_delivery("charge.refunded")
    client.v1.refunds.create(params={"payment_intent": intent})  # the rest
    stripe.wait_for_delivery("charge.refunded", count=2)

    taken = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT_REFUND).order_by("pk")
    assert [entry.worth_change_micros for entry in taken] == [-100_000, -400_000]
    assert sum(-entry.amount_micros for entry in taken) == left_micros
    assert (account(user).balance_micros, account(user).owed_micros) == (
        0,
        500_000 - left_micros,
    )
    factories.assert_ledger_holds()
    answer = api.post("/images/generations", json=FOUR_CATS)
    assert answer.status_code == 402
    assert answer.json()["error"]["code"] == "credits_owed"
    assert "owes $0." in answer.json()["error"]["message"]


def test_a_dispute_takes_the_credits_back_once(stripe, user, browser_of):
    intent = pay(stripe, browser_of(user))
    stripe.wait_for_delivery("payment_intent.succeeded")
    charge_id = Payment.objects.get(intent_id=intent).charge_id

    dispute = stripe.dispute(charge_id)
    first = stripe.wait_for_delivery("charge.dispute.created")
    stripe.resend(first)

    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.DISPUTE)
    assert (entry.amount_micros, entry.owed_micros) == (-25 * USD, 0)
    assert Payment.objects.get(intent_id=intent).dispute_id == dispute["id"]
    assert factories.balance_micros(user) == USD
    factories.assert_ledger_holds()
    page = browser_of(user).get(reverse("billing:payments"))
    assert "Card payment disputed" in page.text and "$25.00 disputed (fraudulent)" in page.text


def test_concurrent_deliveries_of_one_event_grant_once(stripe, user, browser_of, live_server):
    stripe.deliver_to(None)
    pay(stripe, browser_of(user))
    event = stripe.wait_for_delivery("payment_intent.succeeded")
    url = f"{live_server.url}{reverse('stripe-webhook')}"
    deliveries = 8
    start = threading.Barrier(deliveries)

    def deliver(_: int) -> int:
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe.sign(event.payload),
        }
        start.wait()
        return httpx.post(url, content=event.payload, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(deliveries) as pool:
        statuses = list(pool.map(deliver, range(deliveries)))

    assert statuses == [200] * deliveries
    assert granted(user) == [25 * USD]
    factories.assert_ledger_holds()


def save_card(stripe, tab: Client, number: str = "4242424242424242") -> BillingProfile:
    """Save a card as the auto top-up page does: a SetupIntent confirmed by Stripe.js."""
    answer = tab.post(reverse("billing:card-setup-start"))
    assert answer.status_code == 200, answer.content
    setup_intent = stripe.confirm_setup_with_card(answer.json()["client_secret"], number=number)
    assert setup_intent["status"] == "succeeded", setup_intent
    saved = tab.post(reverse("billing:card-setup-finish"), {"setup_intent": setup_intent["id"]})
    assert saved.status_code == 302
    return BillingProfile.objects.get(account__user=saved.wsgi_request.user)


def test_auto_top_up_pays_once_per_crossing_under_concurrent_spending(
    stripe, user, browser_of, api_key, live_server, settings
):
    settings.TOPUP_MIN_USD = "0.50"
    tab = browser_of(user)
    profile = save_card(stripe, tab)
    assert profile.card_label.startswith("Visa •••• 4242")
    configured = tab.post(
        reverse("billing:auto-top-up"), {"enabled": "on", "threshold": "1.00", "amount": "0.50"}
    )
    assert configured.status_code == 302
    credits_grant(account=account(user), amount_micros=150_000, memo="a little over")  # $1.15
    api = factories.api_client(live_server.url, api_key, timeout=60)

    def generate(_: int) -> int:
        return api.post(
            "/images/generations", json={"model": "qwen-image", "prompt": "a cat"}
        ).status_code

    # Each image costs cents: spend until two auto top-ups have come in, eight at a time.
    for _ in range(20):
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(generate, range(8))) == {200}
        if Payment.objects.filter(automatic=True, status=Payment.Status.SUCCEEDED).count() >= 2:
            break

    automatic = Payment.objects.filter(automatic=True)
    assert [payment.status for payment in automatic] == [Payment.Status.SUCCEEDED] * 2
    assert granted(user) == [500_000, 500_000]
    assert BillingProfile.objects.get(pk=profile.pk).crossings == 2
    stripe.wait_for_delivery("payment_intent.succeeded", count=2)
    assert granted(user) == [500_000, 500_000]  # the webhooks came after: nothing more
    factories.assert_ledger_holds()


def test_a_declined_auto_top_up_turns_itself_off_and_says_so_on_the_next_page(
    stripe, user, browser_of, settings
):
    settings.TOPUP_MIN_USD = "0.50"
    tab = browser_of(user)
    save_card(stripe, tab, number=DECLINED)
    tab.post(reverse("billing:auto-top-up"), {"enabled": "on", "threshold": "5", "amount": "5"})

    thresholds_after_charge(user_id=user.pk, balance_micros=USD)  # as a charge would

    profile = BillingProfile.objects.get(account__user=user)
    assert not profile.auto_top_up
    assert Payment.objects.get(automatic=True).status == Payment.Status.FAILED
    page = tab.get(reverse("studio:playground"))
    assert "Auto top-up is off: Your card was declined." in page.text
    tab.post(reverse("billing:notice-dismiss"), {"next": "/playground/"})
    assert "Auto top-up is off" not in tab.get(reverse("studio:playground")).text
    assert granted(user) == []


def test_a_declined_payment_says_so_on_its_page_without_waiting_for_the_webhook(
    stripe, user, browser_of
):
    stripe.deliver_to(None)
    tab = browser_of(user)
    started = start_top_up(tab)

    refused = stripe.confirm_with_card(
        intent_of(started), started["client_secret"], number="4000000000000002"
    )
    page = tab.get(started["payment_url"])

    assert refused["error"]["decline_code"] == "generic_decline"
    assert "The payment failed: Your card was declined." in page.text
    assert Payment.objects.get().status == Payment.Status.FAILED
    assert granted(user) == []


def test_a_card_is_kept_only_from_a_setup_intent_of_this_users_customer(stripe, browser_of):
    mine, theirs = factories.user_with_account(), factories.user_with_account()
    their_tab = browser_of(theirs)
    answer = their_tab.post(reverse("billing:card-setup-start"))
    their_setup = stripe.confirm_setup_with_card(answer.json()["client_secret"])
    my_tab = browser_of(mine)

    for setup_intent in (their_setup["id"], "", "cus_not_a_setup_intent"):
        refused = my_tab.post(
            reverse("billing:card-setup-finish"), {"setup_intent": setup_intent}, follow=True
        )
        assert "The card could not be saved." in refused.text

    profile = BillingProfile.objects.filter(account__user=mine).first()
    assert profile is None or profile.payment_method_id == ""
