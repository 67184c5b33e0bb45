"""Paying by card needs a verified primary email: without one the site starts no payment and
saves no card (Stripe is never asked), and the top-up page offers the verification mail again.
Redeeming a code needs no email."""

import pytest
from django.urls import reverse

from playground.accounts.codes import redeem_batch_create
from playground.billing.models import Payment
from tests import factories

pytestmark = pytest.mark.django_db

REFUSED = "Verify your email address before paying by card"


@pytest.fixture
def unverified(stripe_fake, catalog):
    """A tab signed in as a user whose email is not verified, with card payments set up."""
    user = factories.user_with_account(email_verified=False)
    return user, factories.signed_in_client(user)


def test_the_top_up_page_asks_for_verification_and_mails_the_link_again(unverified, mailoutbox):
    user, tab = unverified

    page = tab.get(reverse("billing:top-up"))

    assert page.status_code == 200
    assert REFUSED.replace("your email address", f"your email address, {user.email},") in page.text
    assert 'id="card-top-up"' not in page.text
    assert "js.stripe.com" not in page.text
    sent = tab.post(reverse("account_email"), {"email": user.email, "action_send": ""})
    assert sent.status_code == 302
    [mail] = mailoutbox
    assert mail.to == [user.email]
    assert "/accounts/confirm-email/" in mail.body


def test_card_payments_and_saving_a_card_are_refused(unverified, stripe_fake):
    _, tab = unverified

    started = tab.post(reverse("billing:top-up-start"), {"amount": "25"})
    setup = tab.post(reverse("billing:card-setup-start"))
    auto = tab.post(
        reverse("billing:auto-top-up"), {"enabled": "on", "threshold": "5", "amount": "10"}
    )

    assert started.status_code == setup.status_code == 403
    assert started.json()["error"].startswith(REFUSED)
    assert auto.status_code == 400 and "Verify your email address" in auto.text
    assert not Payment.objects.exists()
    assert not stripe_fake.calls


def test_codes_are_redeemed_without_a_verified_email(unverified, admin_user):
    user, tab = unverified
    batch = redeem_batch_create(
        name="launch", amount_micros=5_000_000, count=1, created_by=admin_user
    )

    response = tab.post(reverse("billing:top-up"), {"code": batch.codes.get().code})

    assert response.status_code == 200
    assert factories.balance_micros(user) == 5_000_000  # no starter credits unverified
