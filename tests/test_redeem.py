"""Top-up codes: staff make batches in the admin, users redeem them once, races have one winner."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from playground.accounts.codes import redeem_batch_create
from playground.accounts.models import LedgerEntry, RedeemBatch, RedeemCode
from tests import factories

HTMX = {"HX-Request": "true"}
TABS = 8


def make_batch(admin_client, *, name="launch", amount="5.00", count=3) -> RedeemBatch:
    response = admin_client.post(
        reverse("admin:accounts_redeembatch_add"),
        {"name": name, "amount": amount, "count": count, "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    return RedeemBatch.objects.get(name=name)


@pytest.mark.django_db
def test_staff_make_a_batch_in_the_admin_and_a_user_redeems_a_code(admin_client, user):
    batch = make_batch(admin_client)
    code = batch.codes.first()
    typed = code.code.replace("-", " ").lower()  # case, spaces and dashes do not matter

    response = factories.signed_in_client(user).post(
        reverse("billing:top-up"), {"code": typed}, headers=HTMX
    )

    assert batch.codes.count() == 3
    assert len({c.code for c in batch.codes.all()}) == 3
    assert response.status_code == 200
    assert "Redeemed: $5.00 added to your balance." in response.text
    assert "balance-changed" in response.headers["HX-Trigger"]
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REDEEM)
    assert (entry.account.user, entry.amount_micros, entry.redeem_code) == (user, 5_000_000, code)
    assert factories.balance_micros(user) == 6_000_000 == factories.ledger_sum_micros(user)
    code.refresh_from_db()
    assert (code.redeemed_by, code.redeemed_at is not None) == (user, True)


@pytest.mark.django_db
def test_a_code_works_only_once(admin_client, user):
    code = make_batch(admin_client, count=1).codes.get().code
    factories.signed_in_client(user).post(reverse("billing:top-up"), {"code": code})
    other = factories.user_with_account()

    response = factories.signed_in_client(other).post(reverse("billing:top-up"), {"code": code})

    assert response.status_code == 400
    assert "This code has already been redeemed." in response.text
    assert factories.balance_micros(other) == 1_000_000
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("expires_in", "typed", "message"),
    [
        (None, "NOPE-NOPE-NOPE-NOPE", "That is not a valid code."),
        (timedelta(seconds=-1), None, "This code has expired."),
    ],
)
def test_unknown_and_expired_codes_are_refused(admin_user, user, expires_in, typed, message):
    batch = redeem_batch_create(
        name="old",
        amount_micros=1_000_000,
        count=1,
        created_by=admin_user,
        expires_at=timezone.now() + expires_in if expires_in else None,
    )

    response = factories.signed_in_client(user).post(
        reverse("billing:top-up"), {"code": typed or batch.codes.get().code}
    )

    assert response.status_code == 400
    assert message in response.text
    assert factories.balance_micros(user) == 1_000_000
    assert not RedeemCode.objects.filter(redeemed_at__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_tabs_redeeming_the_same_code_at_once_have_one_winner(live_server, admin_user, user):
    code = redeem_batch_create(
        name="race", amount_micros=2_000_000, count=1, created_by=admin_user
    ).codes.get()
    session = factories.signed_in_client(user).cookies["sessionid"].value
    url = f"{live_server.url}{reverse('billing:top-up')}"
    with httpx.Client(cookies={"sessionid": session}) as browser:
        browser.get(url)
        csrf = browser.cookies["csrftoken"]
    start = threading.Barrier(TABS)

    def redeem(_: int) -> bool:
        with httpx.Client(cookies={"sessionid": session, "csrftoken": csrf}) as tab:
            start.wait()
            response = tab.post(
                url, data={"code": code.code}, headers={"X-CSRFToken": csrf, **HTMX}
            )
        assert response.status_code == 200
        return "Redeemed:" in response.text

    with ThreadPoolExecutor(TABS) as pool:
        wins = list(pool.map(redeem, range(TABS)))

    assert wins.count(True) == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).count() == 1
    assert factories.balance_micros(user) == 3_000_000 == factories.ledger_sum_micros(user)


@pytest.mark.django_db
def test_the_top_up_page_lists_credits_received(client, user):
    client.force_login(user)

    response = client.get(reverse("billing:top-up"))

    assert response.status_code == 200
    assert "Starter credits" in response.text
    assert 'name="code"' in response.text
