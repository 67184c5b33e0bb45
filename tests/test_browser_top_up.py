"""A card top-up in a real browser (Debian's Chromium, driven by Playwright): from the top-up
page, through Stripe.js's card form, to the new balance, with the page's Content Security
Policy enforced. Stripe.js is localstripe's copy, served by tests/fakes/stripe.py with the
piece that confirms a PaymentIntent with the card as Stripe.js does. Screenshots of each step
land in test-results/<test name>/.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from playground.accounts.models import LedgerEntry
from playground.billing import stripe_api
from playground.billing.models import Payment
from tests import factories
from tests.browser import Steps, csp_violations, site_context

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_MS = 15_000


@pytest.fixture
def page(browser, live_server, catalog, user) -> Page:
    """A tab signed in as `user`, failing the test on any page error."""
    context = site_context(browser, base_url=live_server.url, user=user)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(TIMEOUT_MS)
    yield tab
    context.close()
    assert errors == []


def fill_card(page: Page, container: str, number: str = "4242424242424242") -> None:
    """localstripe's card Element: one input per part of the card."""
    card = page.locator(container)
    card.get_by_placeholder("number").fill(number)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("10001")


def test_a_card_top_up_from_the_page_to_the_new_balance(
    page, stripe_fake, live_server, user, request
):
    stripe_fake.deliver_to(f"{live_server.url}{reverse('stripe-webhook')}")
    steps = Steps(request.node.name)
    page.goto(reverse("billing:top-up"))
    expect(page.locator("#balance")).to_contain_text("$1.00")
    page.get_by_label("$25.00").check()
    expect(page.locator("#top-up-total")).to_have_text("$25.00")
    fill_card(page, "#card-element")
    steps.shot(page, "top-up-page")

    page.get_by_role("button", name="Pay").click()

    page.wait_for_url(re.compile(r"/accounts/payments/\d+/$"))
    expect(page.get_by_role("status")).to_contain_text("Paid: $25.00 added to your credits.")
    expect(page.get_by_role("status")).to_contain_text("Your balance is now $26.00.")
    expect(page.locator("#balance")).to_contain_text("$26.00")
    steps.shot(page, "paid")
    payment = Payment.objects.get()
    assert (payment.status, payment.received_micros) == (Payment.Status.SUCCEEDED, 25_000_000)
    stripe_fake.wait_for_delivery("payment_intent.succeeded")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).count() == 1
    assert factories.balance_micros(user) == 26_000_000

    expect(page.get_by_role("link", name="Stripe's receipt")).to_have_attribute(
        "href", re.compile(re.escape(stripe_fake.url))
    )

    # Staff refund $5 in Stripe's dashboard: its webhook takes the credits back.
    stripe_api.client().v1.refunds.create(
        params={"payment_intent": payment.intent_id, "amount": 500}
    )
    stripe_fake.wait_for_delivery("charge.refunded")
    page.goto(reverse("billing:payments"))
    row = page.locator("tr.payment-succeeded")
    expect(row).to_contain_text("$25.00")
    expect(row.get_by_role("link", name="Receipt")).to_have_attribute(
        "href", re.compile(re.escape(stripe_fake.url))
    )
    expect(page.locator("tr.kind-payment_refund")).to_contain_text("$5.00 refunded to the card")
    expect(page.locator("#balance")).to_contain_text("$21.00")
    steps.shot(page, "payments")
    assert csp_violations(page) == []


def test_a_declined_card_says_so_and_grants_nothing(page, stripe_fake, live_server, user):
    stripe_fake.deliver_to(f"{live_server.url}{reverse('stripe-webhook')}")
    page.goto(reverse("billing:top-up"))
    fill_card(page, "#card-element", number="4000000000000002")

    page.get_by_role("button", name="Pay").click()

    expect(page.get_by_role("alert")).to_contain_text("declined")
    expect(page.get_by_role("button", name="Pay")).to_be_enabled()
    assert factories.balance_micros(user) == 1_000_000
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).exists()


def test_a_card_is_saved_for_auto_top_up_through_stripe_js(page, stripe_fake, user, request):
    steps = Steps(request.node.name)
    page.goto(reverse("billing:auto-top-up"))
    fill_card(page, "#setup-card-element")

    page.get_by_role("button", name="Save card").click()

    expect(page.locator("#saved-card")).to_contain_text("Visa •••• 4242")
    page.get_by_label("Auto top-up on").check()
    page.get_by_label("When my balance falls below (USD)").fill("2")
    page.get_by_label("Add (USD)").fill("10")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Auto top-up is on.")
    steps.shot(page, "auto-top-up")
    assert csp_violations(page) == []
