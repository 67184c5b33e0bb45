"""The operators' commands: grant_credits and check_ledger."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from playground.accounts.models import Account, ApiKey, LedgerEntry
from playground.accounts.services import api_key_create
from tests import factories

pytestmark = pytest.mark.django_db


def run(name: str, *arguments: str) -> str:
    out = io.StringIO()
    call_command(name, *arguments, stdout=out, stderr=out)
    return out.getvalue()


def test_grant_credits_adds_a_ledger_row_and_dry_run_changes_nothing(user):
    dry = run("grant_credits", user.username, "2.5", "--dry-run")
    real = run("grant_credits", user.username, "2.5", "--memo", "Invoice 7 paid")

    assert "Would grant $2.50" in dry
    assert "Granted $2.50" in real and "now $3.50" in real
    entry = LedgerEntry.objects.get(memo="Invoice 7 paid")
    assert (entry.kind, entry.amount_micros) == (LedgerEntry.Kind.GRANT, 2_500_000)
    assert factories.balance_micros(user) == 3_500_000 == factories.ledger_sum_micros(user)


def test_grant_credits_with_a_reference_grants_once(user):
    run("grant_credits", user.username, "5", "--reference", "invoice-42")
    again = run("grant_credits", user.username, "5", "--reference", "invoice-42")

    assert "Already granted $5.00" in again
    assert factories.balance_micros(user) == 6_000_000
    with pytest.raises(CommandError, match="was used for another grant"):
        run("grant_credits", user.username, "7", "--reference", "invoice-42")


@pytest.mark.parametrize(
    ("username", "dollars", "message"),
    [
        ("nobody", "1", "No user named 'nobody'"),
        (None, "-1", "DOLLARS must be positive"),
        (None, "lots", "not a dollar amount"),
    ],
)
def test_grant_credits_refuses_bad_input(user, username, dollars, message):
    with pytest.raises(CommandError, match=message):
        run("grant_credits", username or user.username, dollars)
    assert factories.balance_micros(user) == 1_000_000


def test_check_ledger_passes_when_balances_match_and_fails_when_one_does_not(user):
    api_key, _ = api_key_create(user=user, name="server")

    fine = run("check_ledger")
    Account.objects.filter(user=user).update(balance_micros=F("balance_micros") + 1)
    ApiKey.objects.filter(pk=api_key.pk).update(spent_micros=5)
    problems = io.StringIO()
    with pytest.raises(CommandError, match="2 difference") as caught:
        call_command("check_ledger", stdout=io.StringIO(), stderr=problems)

    assert "every balance equals the sum of its entries" in fine
    assert caught.value.returncode == 1
    assert f"({user.username}): balance $1.000001, ledger $1.00" in problems.getvalue()
    assert f"API key {api_key.pk} ({api_key.prefix}… of {user.username}): spent $0.000005" in (
        problems.getvalue()
    )
