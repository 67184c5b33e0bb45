"""The pages of card payments that need no Stripe to answer: the site without Stripe's keys,
the top-up form's bounds, Stripe out of reach, what the account page says of a debt, the
ledger's CSV and what staff see."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from playground.accounts.models import Account, LedgerEntry
from playground.accounts.services import credits_grant, credits_take_back
from playground.billing.models import Payment
from tests import factories

pytestmark = pytest.mark.django_db

USD = 1_000_000


@pytest.fixture
def stripe_keys(settings):
    """Keys set, Stripe itself nowhere: enough for what is decided before calling it."""
    settings.STRIPE_SECRET_KEY = "sk_test_pages"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_pages"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_pages"
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{factories.free_port()}"
    settings.STRIPE_JS_URL = "https://js.stripe.example/v3/"


def test_without_stripe_keys_the_site_says_card_payments_are_not_set_up(signed_in):
    page = signed_in.get(reverse("billing:top-up"))

    assert "Card payments are not set up on this site." in page.text
    assert "stripe" not in page.text.lower().replace("card payments", "")  # no Stripe.js
    assert "js.stripe.com" not in page.headers["Content-Security-Policy"]
    assert 'name="code"' in page.text  # redeem codes still work
    started = signed_in.post(reverse("billing:top-up-start"), {"amount": "25"})
    assert started.status_code == 404
    assert started.json() == {"error": "Card payments are not set up on this site."}
    auto = signed_in.get(reverse("billing:auto-top-up"))
    assert "Card payments are not set up on this site." in auto.text


def test_with_stripe_keys_the_page_loads_stripe_js_and_lets_it_in(signed_in, stripe_keys):
    page = signed_in.get(reverse("billing:top-up"))

    assert '<script src="https://js.stripe.example/v3/"></script>' in page.text
    assert 'data-stripe-key="pk_test_pages"' in page.text
    assert "sk_test_pages" not in page.text and "whsec_pages" not in page.text
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["Content-Security-Policy"].split(";")
    )
    assert "https://js.stripe.example" in policy["script-src"]
    assert "https://js.stripe.example" in policy["frame-src"]
    assert "http://127.0.0.1:" in policy["connect-src"]
    assert policy["default-src"] == "'self'"
    for preset in ("$10.00", "$25.00", "$50.00", "$100.00"):
        assert preset in page.text


@pytest.mark.parametrize(
    ("amount", "other", "message"),
    [
        ("other", "4.99", "Between $5.00 and $500.00."),
        ("other", "500.01", "Between $5.00 and $500.00."),
        ("other", "", "Enter an amount."),
        ("other", "7.123", "Ensure that there are no more than 2 decimal places."),
        ("other", "\u0662\u0665", "Enter a number."),  # 25 in Arabic-Indic digits
        ("13", "", "Select a valid choice."),
    ],
)
def test_a_top_up_outside_the_bounds_is_refused_before_stripe_is_asked(
    signed_in, stripe_keys, amount, other, message
):
    answer = signed_in.post(reverse("billing:top-up-start"), {"amount": amount, "other": other})

    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert not Payment.objects.exists()


def test_stripe_out_of_reach_is_a_readable_error_and_no_payment(signed_in, stripe_keys):
    answer = signed_in.post(reverse("billing:top-up-start"), {"amount": "25"})

    assert answer.status_code == 503
    assert answer.json()["error"].startswith("Card payments are unavailable right now.")
    assert not Payment.objects.exists()


def test_the_webhook_refuses_everything_without_a_secret_configured(client):
    answer = client.post(
        reverse("stripe-webhook"),
        data=b'{"id": "evt_1", "type": "payment_intent.succeeded"}',
        content_type="application/json",
        headers={"Stripe-Signature": "t=1,v1=00"},
    )

    assert answer.status_code == 400


def test_the_account_page_says_what_is_owed_and_the_ledger_downloads_as_csv(signed_in, user):
    account = Account.objects.get(user=user)
    payment = Payment.objects.create(account=account, intent_id="pi_csv", amount_micros=5 * USD)
    credits_grant(account=account, amount_micros=20_972, memo="a fraction")
    credits_take_back(
        account_id=account.pk,
        amount_micros=3 * USD,
        kind=LedgerEntry.Kind.DISPUTE,
        payment_id=payment.pk,
        memo="$3.00 disputed",
    )

    page = signed_in.get(reverse("accounts:overview"))
    assert "You owe $1.979028" in page.text
    assert 'href="/accounts/ledger.csv" download' in page.text

    export = signed_in.get(reverse("accounts:ledger-csv"))
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert export["Content-Disposition"].startswith('attachment; filename="ledger-')
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [(row["kind"], row["amount_usd"], row["owed_change_usd"]) for row in rows] == [
        ("grant", "1.00", "0.00"),
        ("grant", "0.020972", "0.00"),
        ("dispute", "-1.020972", "1.979028"),
    ]
    assert rows[2]["payment"] == "pi_csv" and rows[2]["memo"] == "$3.00 disputed"
    only = signed_in.get(reverse("accounts:ledger-csv"), {"kind": "dispute"})
    assert b"".join(only.streaming_content).decode().count("\n") == 2


def test_staff_see_who_owes_in_the_admin(admin_client, user):
    Account.objects.filter(user=user).update(owed_micros=2 * USD)
    other = factories.user_with_account()

    page = admin_client.get(reverse("admin:accounts_account_changelist"), {"owes": "yes"})

    assert page.status_code == 200
    assert user.username in page.text and "$2.00" in page.text
    assert other.username not in page.text
    assert admin_client.get(reverse("admin:billing_payment_changelist")).status_code == 200


def test_the_payments_page_leaves_out_card_forms_never_confirmed(signed_in, user):
    account = Account.objects.get(user=user)
    for intent_id, hours in (("pi_left_long_ago", 2), ("pi_just_now", 0)):
        payment = Payment.objects.create(account=account, intent_id=intent_id, amount_micros=USD)
        Payment.objects.filter(pk=payment.pk).update(
            created_at=timezone.now() - timedelta(hours=hours)
        )
    paid = Payment.objects.create(
        account=account,
        intent_id="pi_paid",
        amount_micros=10 * USD,
        received_micros=10 * USD,
        status=Payment.Status.SUCCEEDED,
        receipt_url="https://pay.stripe.com/receipts/x",
    )

    page = signed_in.get(reverse("billing:payments"))

    assert page.text.count('class="payment-pending"') == 1
    assert reverse("billing:payment", args=[paid.pk]) not in page.text  # paid: a receipt
    assert 'href="https://pay.stripe.com/receipts/x"' in page.text
    assert "$10.00" in page.text


def test_auto_top_up_needs_a_saved_card_first(signed_in, stripe_keys):
    page = signed_in.get(reverse("billing:auto-top-up"))
    assert 'value="5"' in page.text  # the threshold offered: the smallest top-up

    answer = signed_in.post(
        reverse("billing:auto-top-up"), {"enabled": "on", "threshold": "5", "amount": "10"}
    )

    assert answer.status_code == 400
    assert "Save a card first: auto top-up pays with it." in answer.text
