"""The Django admin: money moves only through its actions; ledger rows and keys stay read-only."""

import pytest
from django.urls import reverse

from playground.accounts.codes import redeem_batch_create
from playground.accounts.models import Account, LedgerEntry
from playground.accounts.services import api_key_create
from tests import factories

pytestmark = pytest.mark.django_db


def run_action(admin_client, model: str, action: str, ids: list[int], **fields):
    return admin_client.post(
        reverse(f"admin:accounts_{model}_changelist"),
        {"action": action, "_selected_action": ids, **fields},
        follow=True,
    )


def test_the_grant_action_asks_for_an_amount_then_writes_an_adjustment(admin_client, admin_user):
    user = factories.user_with_account()
    account = Account.objects.get(user=user)

    form = run_action(admin_client, "account", "adjust_credits", [account.pk])
    applied = run_action(
        admin_client,
        "account",
        "adjust_credits",
        [account.pk],
        apply="Apply",
        amount="2.50",
        memo="Sorry for the outage",
    )

    assert 'name="amount"' in form.text
    assert user.username in form.text
    assert "adjusted by $2.50" in applied.text
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.ADJUSTMENT)
    assert (entry.amount_micros, entry.memo, entry.created_by) == (
        2_500_000,
        "Sorry for the outage",
        admin_user,
    )
    assert factories.balance_micros(user) == 3_500_000 == factories.ledger_sum_micros(user)


def test_taking_back_more_than_the_balance_is_refused(admin_client):
    user = factories.user_with_account()
    account = Account.objects.get(user=user)

    response = run_action(
        admin_client,
        "account",
        "adjust_credits",
        [account.pk],
        apply="Apply",
        amount="-1.01",
        memo="clawback",
    )

    assert "Your credit balance is too low" in response.text
    assert factories.balance_micros(user) == 1_000_000
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUSTMENT).exists()


@pytest.mark.django_db(transaction=True)
def test_the_refund_action_gives_a_charge_back_once(live_server, admin_client, catalog):
    user = factories.user_with_account()
    (generation,) = factories.api_images(live_server.url, user, "refund me")
    capture = LedgerEntry.objects.get(generation=generation, kind=LedgerEntry.Kind.CAPTURE)
    hold = LedgerEntry.objects.get(generation=generation, kind=LedgerEntry.Kind.HOLD)

    first = run_action(admin_client, "ledgerentry", "refund", [capture.pk])
    second = run_action(admin_client, "ledgerentry", "refund", [capture.pk, hold.pk])

    assert "Refunded" in first.text
    assert "already been refunded" in second.text
    assert "Only charges can be refunded" in second.text
    refund = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REFUND)
    assert refund.amount_micros == generation.cost_micros > 0
    assert refund.generation == generation
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_ledger_entries_accounts_and_keys_cannot_be_edited(admin_client, user):
    entry = LedgerEntry.objects.get(account__user=user)
    api_key, _ = api_key_create(user=user, name="server")
    account = Account.objects.get(user=user)

    pages = {
        "ledger": admin_client.get(reverse("admin:accounts_ledgerentry_change", args=[entry.pk])),
        "key": admin_client.get(reverse("admin:accounts_apikey_change", args=[api_key.pk])),
        "account": admin_client.get(reverse("admin:accounts_account_change", args=[account.pk])),
    }
    edit = admin_client.post(
        reverse("admin:accounts_account_change", args=[account.pk]),
        {"balance_micros": 99_000_000},
    )

    for page in pages.values():
        assert page.status_code == 200
        assert 'name="_save"' not in page.text
    assert api_key.key_hash not in pages["key"].text
    assert edit.status_code == 403
    assert factories.balance_micros(user) == 1_000_000
    assert admin_client.get(reverse("admin:accounts_ledgerentry_add")).status_code == 403


def test_staff_download_a_batch_of_codes_as_csv(admin_client, admin_user):
    batch = redeem_batch_create(
        name="conference", amount_micros=3_000_000, count=2, created_by=admin_user
    )

    response = run_action(admin_client, "redeembatch", "download_codes", [batch.pk])

    lines = response.content.decode().splitlines()
    assert response["Content-Type"] == "text/csv"
    assert lines[0] == "batch,code,usd,expires_at,redeemed_at"
    assert sorted(line.split(",")[1] for line in lines[1:]) == sorted(
        batch.codes.values_list("code", flat=True)
    )
    assert all(line.split(",")[2] == "$3.00" for line in lines[1:])


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("account", "username"),
        ("ledgerentry", "Starter credits"),
        ("apikey", "server"),
        ("redeembatch", "spring"),
        ("redeemcode", "spring"),
    ],
)
def test_staff_can_list_and_search_every_money_model(admin_client, admin_user, user, model, shown):
    redeem_batch_create(name="spring", amount_micros=1_000_000, count=2, created_by=admin_user)
    api_key_create(user=user, name="server")
    shown = user.username if shown == "username" else shown
    url = reverse(f"admin:accounts_{model}_changelist")

    listed = admin_client.get(url)
    searched = admin_client.get(url, {"q": "no such thing"})

    assert shown in listed.text
    assert listed.context["cl"].result_count > 0
    assert searched.context["cl"].result_count == 0


def test_a_batch_page_lists_its_codes(admin_client, admin_user):
    batch = redeem_batch_create(
        name="fall", amount_micros=1_000_000, count=2, created_by=admin_user
    )

    page = admin_client.get(reverse("admin:accounts_redeembatch_change", args=[batch.pk]))

    assert all(code in page.text for code in batch.codes.values_list("code", flat=True))
