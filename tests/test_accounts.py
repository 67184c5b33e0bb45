import pytest
from django.core.management import call_command
from django.urls import reverse

from playground.accounts.models import ApiKey, LedgerEntry
from playground.accounts.services import api_key_authenticate
from tests import factories

pytestmark = pytest.mark.django_db


def test_sign_up_grants_starter_credits_as_a_ledger_row_and_shows_the_balance(client):
    response = client.post(
        reverse("accounts:sign-up"),
        {
            "username": "ada",
            "email": "",
            "password1": factories.PASSWORD,
            "password2": factories.PASSWORD,
        },
        follow=True,
    )

    assert response.status_code == 200
    entry = LedgerEntry.objects.get(account__user__username="ada")
    assert (entry.kind, entry.amount_micros) == (LedgerEntry.Kind.GRANT, 1_000_000)
    assert 'id="balance"' in response.text
    assert "$1.00" in response.text


def test_starter_credits_follow_the_setting(settings):
    settings.STARTER_CREDITS_USD = "2.50"

    user = factories.user_with_account()

    assert factories.balance_micros(user) == 2_500_000 == factories.ledger_sum_micros(user)


def test_sign_up_rejects_mismatched_passwords_with_a_message(client):
    response = client.post(
        reverse("accounts:sign-up"),
        {"username": "bob", "password1": factories.PASSWORD, "password2": "different-password-1"},
    )

    assert response.status_code == 200
    assert "didn’t match" in response.text or "didn't match" in response.text
    assert not LedgerEntry.objects.exists()


def test_log_in_and_out(client, user):
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("accounts:balance")).status_code == 200

    client.post(reverse("accounts:logout"))

    assert client.get(reverse("accounts:balance")).status_code == 302


def test_create_api_key_command_creates_the_user_grants_and_prints_the_key_last(capsys):
    call_command("create_api_key", "scripted", "--credits", "5")

    key = capsys.readouterr().out.strip().splitlines()[-1]
    api_key = api_key_authenticate(raw_key=key)
    assert api_key.user.username == "scripted"
    assert factories.balance_micros(api_key.user) == 6_000_000  # starter + 5
    assert key not in {k.key_hash for k in ApiKey.objects.all()}  # stored hashed


def test_create_api_key_command_reuses_an_existing_user(capsys, user):
    call_command("create_api_key", user.username)

    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert api_key_authenticate(raw_key=key).user == user
    assert factories.balance_micros(user) == 1_000_000
