import os
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from playground.accounts.models import ApiKey, LedgerEntry
from playground.accounts.services import api_key_authenticate
from tests import factories

pytestmark = pytest.mark.django_db


def sign_up(client, **fields):
    """Post allauth's sign-up form (through the site's URL), following its redirects."""
    form = {
        "email": "ada@example.com",
        "username": "",
        "password1": factories.PASSWORD,
        "password2": factories.PASSWORD,
    }
    return client.post(reverse("account_signup"), form | fields, follow=True)


def test_sign_up_opens_an_empty_account_and_says_how_to_get_the_starter_credits(client):
    response = sign_up(client, username="ada")

    assert response.status_code == 200
    assert factories.balance_micros(get_user_model().objects.get(username="ada")) == 0
    assert not LedgerEntry.objects.exists()
    assert 'id="balance"' in response.text
    assert "Welcome! Verify your email to get $1.00 of starter credits" in response.text


def test_sign_up_without_a_username_makes_one_and_mails_a_verification_link(client, mailoutbox):
    response = sign_up(client, email="grace.hopper@example.com")

    user = get_user_model().objects.get(email="grace.hopper@example.com")
    assert user.username.startswith("grace")
    assert factories.balance_micros(user) == 0  # the starter credits wait for the verification
    assert response.wsgi_request.user == user  # signed in, before verifying
    address = EmailAddress.objects.get(user=user)
    assert (address.primary, address.verified) == (True, False)
    [mail] = mailoutbox
    assert mail.to == ["grace.hopper@example.com"]
    assert mail.subject == "[Qwen Image Playground] Confirm your email address"
    assert "/accounts/confirm-email/" in mail.body
    assert "Confirming it adds $1.00 of starter credits" in mail.body
    [(html, kind)] = mail.alternatives
    assert kind == "text/html" and "Confirm my email address" in html


def test_sign_up_rejects_mismatched_passwords_with_a_message(client):
    response = sign_up(client, password2="different-password-1")

    assert response.status_code == 200
    assert "You must type the same password each time." in response.text
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("login", ["username", "email"])
def test_log_in_by_username_or_email_and_out(client, user, login):
    response = client.post(
        reverse("account_login"),
        {"login": getattr(user, login), "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    assert client.get(reverse("accounts:balance")).status_code == 200

    client.post(reverse("account_logout"))

    assert client.get(reverse("accounts:balance")).status_code == 302


def test_a_wrong_password_is_refused_with_a_readable_error(client, user):
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": "not-the-password"}
    )

    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.text
    assert response.wsgi_request.user.is_anonymous


def test_create_api_key_command_creates_the_user_grants_and_prints_the_key_last(capsys):
    call_command("create_api_key", "scripted", "--credits", "5")

    key = capsys.readouterr().out.strip().splitlines()[-1]
    api_key = api_key_authenticate(raw_key=key)
    assert api_key.user.username == "scripted"
    assert factories.balance_micros(api_key.user) == 5_000_000  # no email: no starter credits
    assert key not in {k.key_hash for k in ApiKey.objects.all()}  # stored hashed


def test_create_api_key_command_reuses_an_existing_user(capsys, user):
    call_command("create_api_key", user.username)

    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert api_key_authenticate(raw_key=key).user == user
    assert factories.balance_micros(user) == 1_000_000


def setting_with(env: dict[str, str], expression: str) -> str:
    """`expression` of playground/settings.py as read in a fresh process with `env`, printed."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("EMAIL_", "ANYMAIL_", "GITHUB_", "GOOGLE_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", f"from playground import settings as s; print({expression})"],
        env=clean | env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "django.core.mail.backends.filebased.EmailBackend"),
        ({"EMAIL_HOST": "smtp.example.com"}, "django.core.mail.backends.smtp.EmailBackend"),
        (
            {"EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend"},
            "anymail.backends.postmark.EmailBackend",
        ),
    ],
)
def test_mail_goes_to_files_by_default_and_elsewhere_as_the_environment_says(env, backend):
    assert setting_with(env, "s.MAILERS['default']['BACKEND']") == backend


def test_github_and_google_sign_in_are_set_up_by_their_keys_only():
    assert setting_with({}, "sorted(s.SOCIALACCOUNT_PROVIDERS)") == "[]"
    env = {"GITHUB_CLIENT_ID": "gh-id", "GITHUB_CLIENT_SECRET": "gh-secret"}
    apps = setting_with(env, "s.SOCIALACCOUNT_PROVIDERS['github']['APPS']")
    assert apps == "[{'client_id': 'gh-id', 'secret': 'gh-secret'}]"
    assert setting_with(env, "sorted(s.SOCIALACCOUNT_PROVIDERS)") == "['github']"
