"""The low-balance notice: a user opts in with a threshold; the first charge that leaves the
balance below it sends one email; any credit that brings the balance back to the threshold arms
it again. Charges are real API generations; emails land in Django's locmem outbox.

Tasks run at once (conftest), on the commit of the generation's transaction, hence
transactional tests.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client
from django.urls import reverse

from playground.accounts.codes import redeem_batch_create
from playground.accounts.models import Account
from playground.accounts.services import credits_adjust, credits_grant
from playground.billing import services, thresholds
from playground.billing.models import BillingProfile, Payment
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

USD = 1_000_000
START = 1_000_000  # the starter credits
BODY = {"model": "qwen-image", "prompt": "a lighthouse", "size": "256x256"}
SUBJECT = "Your credits are running low"


@pytest.fixture
def tab(user, catalog):
    """The user, with an email address, signed in."""
    user.email = "ada@example.com"
    user.save(update_fields=["email"])
    return factories.signed_in_client(user)


@pytest.fixture
def generate(api_key):
    """`generate()` makes one API generation (a charge) in this process."""
    api = Client(headers={"Authorization": f"Bearer {api_key}"})

    def post() -> None:
        response = api.post("/v1/images/generations", BODY, content_type="application/json")
        assert response.status_code == 200, response.content

    return post


def opt_in(tab: Client, threshold: str, *, enabled: bool = True):
    form = {"threshold": threshold} | ({"enabled": "on"} if enabled else {})
    return tab.post(reverse("billing:low-balance"), form)


def notices(outbox) -> list:
    return [message for message in outbox if message.subject == SUBJECT]


def test_the_page_turns_the_notice_on_and_off(tab, user):
    page = tab.get(reverse("billing:low-balance"))
    assert page.status_code == 200
    assert "ada@example.com" in page.text
    assert reverse("billing:low-balance") in tab.get(reverse("accounts:overview")).text

    saved = opt_in(tab, "2.50")

    assert saved.status_code == 302
    assert "The low-balance email is on." in tab.get(saved.url).text
    profile = BillingProfile.objects.get(account__user=user)
    assert (profile.low_balance_notice, profile.low_balance_threshold_micros) == (True, 2_500_000)
    assert profile.customer_id is None  # no card, no Stripe customer

    opt_in(tab, "2.50", enabled=False)
    assert not BillingProfile.objects.get(pk=profile.pk).low_balance_notice


@pytest.mark.parametrize("threshold", ["", "0", "-1", "abc", "1.001", "9999999999"])
def test_the_form_refuses_what_is_not_a_positive_amount_of_dollars(tab, threshold):
    refused = opt_in(tab, threshold)

    assert refused.status_code == 400
    assert 'class="errorlist' in refused.text
    assert not BillingProfile.objects.exists()


def test_the_page_is_for_signed_in_users(client):
    response = client.get(reverse("billing:low-balance"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_a_charge_below_the_threshold_sends_one_email_per_crossing(tab, generate, mailoutbox):
    opt_in(tab, "1.00")  # the starter credits: the first charge crosses

    for _ in range(3):
        generate()

    assert [message.to for message in notices(mailoutbox)] == [["ada@example.com"]]


@pytest.mark.parametrize(
    ("threshold", "enabled"), [("1.00", False), ("0.10", True)], ids=["opted out", "above"]
)
def test_no_email_when_opted_out_or_still_above_the_threshold(
    tab, user, generate, mailoutbox, threshold, enabled
):
    opt_in(tab, threshold, enabled=enabled)

    generate()

    assert 100_000 < factories.balance_micros(user) < START  # charged
    assert notices(mailoutbox) == []


def test_no_email_to_a_user_without_an_address(tab, user, generate, mailoutbox):
    opt_in(tab, "1.00")
    user.email = ""
    user.save(update_fields=["email"])

    generate()

    assert notices(mailoutbox) == []
    assert not BillingProfile.objects.get(account__user=user).low_balance_armed  # crossed


def redeem(tab: Client, admin_user, amount_micros: int) -> None:
    code = redeem_batch_create(
        name="back", amount_micros=amount_micros, count=1, created_by=admin_user
    ).codes.get()
    assert tab.post(reverse("billing:top-up"), {"code": code.code}).status_code == 200


def pay(user, amount_micros: int) -> None:
    """A card payment of at least `amount_micros` comes in, as Stripe's webhook tells it."""
    cents = -(-amount_micros // 10_000)
    payment = Payment.objects.create(
        account=Account.objects.get(user=user), intent_id="pi_back", amount_micros=cents * 10_000
    )
    services.payment_succeeded(
        intent={
            "id": payment.intent_id,
            "status": "succeeded",
            "currency": "usd",
            "amount": cents,
            "amount_received": cents,
            "metadata": {"account_id": str(payment.account_id)},
        }
    )


def grant(user, amount_micros: int) -> None:
    credits_grant(account=Account.objects.get(user=user), amount_micros=amount_micros, memo="back")


@pytest.mark.parametrize("credit", ["grant", "code", "payment"])
def test_credits_back_to_the_threshold_arm_it_again(
    tab, user, admin_user, generate, mailoutbox, credit
):
    opt_in(tab, "1.00")
    generate()
    short_micros = USD - factories.balance_micros(user)

    if credit == "grant":
        grant(user, short_micros)
    elif credit == "code":
        redeem(tab, admin_user, short_micros)
    else:
        pay(user, short_micros)
    over_micros = factories.balance_micros(user) - USD
    if over_micros:  # a card pays whole cents: back to exactly the threshold
        credits_adjust(
            account=Account.objects.get(user=user),
            amount_micros=-over_micros,
            memo="to the threshold",
            created_by=admin_user,
        )
    assert factories.balance_micros(user) == USD
    generate()
    generate()

    assert len(notices(mailoutbox)) == 2
    factories.assert_ledger_holds()


def test_credits_short_of_the_threshold_leave_it_disarmed(tab, user, generate, mailoutbox):
    opt_in(tab, "1.00")
    generate()

    grant(user, USD - factories.balance_micros(user) - 1)
    generate()

    assert len(notices(mailoutbox)) == 1


def test_the_email_says_the_balance_and_the_threshold_and_links_to_top_up_and_settings(
    tab, user, generate, mailoutbox, settings
):
    settings.SITE_URL = "https://images.example/"
    opt_in(tab, "1.00")

    generate()

    (message,) = notices(mailoutbox)
    balance = f"${factories.balance_micros(user) / USD:.6f}".rstrip("0")
    top_up = "https://images.example/accounts/top-up/"
    off = "https://images.example/accounts/low-balance/"
    assert message.to == ["ada@example.com"]
    assert balance in message.body and "$1.00" in message.body
    assert top_up in message.body and off in message.body
    assert "turn this email off" in message.body
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert balance in html and "$1.00" in html
    assert f'href="{top_up}"' in html and f'href="{off}"' in html


def test_one_check_fires_auto_top_up_and_the_notice_each_at_its_own_threshold(user):
    BillingProfile.objects.create(
        account=Account.objects.get(user=user),
        customer_id="cus_1",
        payment_method_id="pm_1",
        auto_top_up=True,
        threshold_micros=5 * USD,
        amount_micros=20 * USD,
        low_balance_notice=True,
        low_balance_threshold_micros=2 * USD,
    )

    def fire(balance_micros: int) -> thresholds.Fired:
        return thresholds.thresholds_fire(user_id=user.pk, balance_micros=balance_micros)

    assert fire(6 * USD) == thresholds.Fired()
    assert fire(3 * USD) == thresholds.Fired(auto_top_up=True)
    assert fire(1 * USD) == thresholds.Fired(low_balance=True)
    assert fire(0) == thresholds.Fired()
    profile = BillingProfile.objects.get()
    assert (profile.armed, profile.low_balance_armed, profile.crossings) == (False, False, 1)


def test_eight_concurrent_generations_crossing_once_send_one_email(
    tab, user, api_key, live_server, mailoutbox
):
    opt_in(tab, "1.00")
    api = factories.api_client(live_server.url, api_key, timeout=60)

    def spend(_: int) -> int:
        return api.post("/images/generations", json=BODY).status_code

    for crossing in (1, 2):
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(spend, range(8))) == {200}
        assert len(notices(mailoutbox)) == crossing
        grant(user, USD - factories.balance_micros(user))  # back to the threshold

    factories.assert_ledger_holds()
