"""The settings page (/accounts/settings/): email addresses, password, connected logins, sessions
and deleting the account; GitHub and Google sign-in only where their keys are set."""

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

GITHUB = {"github": {"APPS": [{"client_id": "gh-id", "secret": "gh-secret"}]}}


def logged_in_tab(user) -> Client:
    """A browser session of `user`'s, logged in through the form (which records the session)."""
    tab = Client()
    form = {"login": user.username, "password": factories.PASSWORD}
    assert tab.post(reverse("account_login"), form).status_code == 302
    return tab


def test_the_settings_page_has_each_section(user):
    tab = logged_in_tab(user)

    page = tab.get(reverse("accounts:settings"))

    assert page.status_code == 200
    assert page.text.count("<h1") == 1
    for heading in ("Email", "Password", "Sessions", "Email notices", "API keys", "Delete account"):
        assert f">{heading}</h2>" in page.text
    assert "Connected logins" not in page.text  # no provider is set up
    assert user.email in page.text and "Verified" in page.text
    assert reverse("account_change_password") in page.text
    assert reverse("accounts:api-keys") in page.text
    assert reverse("billing:low-balance") in page.text
    assert "This browser" in page.text  # the session this page was read in
    assert f'href="{reverse("accounts:settings")}"' in tab.get("/accounts/").text


@pytest.mark.parametrize("path", ["account_login", "account_signup"])
def test_social_buttons_show_only_when_their_keys_are_set(client, settings, path):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert "Continue with" not in client.get(reverse(path)).text

    settings.SOCIALACCOUNT_PROVIDERS = GITHUB

    page = client.get(reverse(path)).text
    assert "Continue with GitHub" in page
    assert "Continue with Google" not in page


def test_connected_logins_show_on_the_settings_page_when_a_provider_is_set(signed_in, settings):
    settings.SOCIALACCOUNT_PROVIDERS = GITHUB

    page = signed_in.get(reverse("accounts:settings"))

    assert "Connected logins" in page.text
    assert reverse("socialaccount_connections") in page.text


def signed_in_tabs(tabs) -> list[bool]:
    return [tab.get(reverse("accounts:balance")).status_code == 200 for tab in tabs]


def test_log_out_other_sessions_keeps_this_one(user):
    here, elsewhere, phone = (logged_in_tab(user) for _ in range(3))
    assert here.get(reverse("accounts:settings")).text.count("<tr>") == 1 + 3

    here.post(reverse("usersessions_list"))

    assert signed_in_tabs([here, elsewhere, phone]) == [True, False, False]


def test_log_out_everywhere_ends_this_session_too(user):
    here, elsewhere = (logged_in_tab(user) for _ in range(2))

    response = here.post(reverse("accounts:log-out-everywhere"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("account_login")
    assert "You are logged out on every device and browser." in response.text
    assert signed_in_tabs([here, elsewhere]) == [False, False]
