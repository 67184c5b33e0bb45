"""Starter credits come with a verified email: once per address (case aside, and after the
account that had them is deleted) and once per account, never at sign-up, and not at all when
STARTER_CREDITS_USD is 0. GitHub and Google count when they verified the address. Verifying
twice at once grants once (SQLite and PostgreSQL)."""

import re
import threading

import httpx
import pytest
from allauth.account.models import EmailAddress
from allauth.core import context
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import complete_social_login
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from playground.accounts.models import LedgerEntry, StarterCredit, hash_email
from playground.accounts.services import account_delete, starter_credits_grant
from tests import factories

pytestmark = pytest.mark.django_db
LINK = re.compile(r"http://\S+/accounts/confirm-email/\S+/")


def sign_up(client, email: str):
    form = {"email": email, "password1": factories.PASSWORD, "password2": factories.PASSWORD}
    return client.post(reverse("account_signup"), form, follow=True)


def confirm(client, mail) -> str:
    """Follow the verification mail's link and confirm; the page it ends on."""
    link = LINK.search(mail.body)[0]
    return client.post(link, follow=True).text


def starter_rows(email: str) -> list[int]:
    return list(
        LedgerEntry.objects.filter(
            account__user__emailaddress__email=email, memo="Starter credits"
        ).values_list("amount_micros", flat=True)
    )


def test_verifying_the_email_grants_the_starter_credits_once(client, mailoutbox):
    sign_up(client, "ada@example.com")
    user = get_user_model().objects.get(email="ada@example.com")
    assert factories.balance_micros(user) == 0

    page = confirm(client, mailoutbox[0])
    assert "$1.00 of starter credits added for verifying ada@example.com." in page
    assert factories.balance_micros(user) == 1_000_000
    grant = StarterCredit.objects.get()
    assert grant.email_hash == hash_email("ADA@example.com ")  # no address kept, only its hash

    confirm(client, mailoutbox[0])  # the link again
    client.post(reverse("account_email"), {"email": "ada@example.com", "action_send": ""})
    assert starter_rows("ada@example.com") == [1_000_000]
    factories.assert_ledger_holds()


def test_an_address_gets_them_once_even_after_its_account_is_deleted(client, mailoutbox):
    sign_up(client, "ada@example.com")
    confirm(client, mailoutbox[0])
    account_delete(user=get_user_model().objects.get(email="ada@example.com"))
    client.logout()
    cache.clear()  # allauth mails an address once in 3 minutes: they have passed

    sign_up(client, "Ada@Example.com")
    page = confirm(client, mailoutbox[-1])

    again = get_user_model().objects.get(email__iexact="ada@example.com")
    assert EmailAddress.objects.get(user=again).verified
    assert "starter credits added" not in page
    assert factories.balance_micros(again) == 0
    assert StarterCredit.objects.count() == 1
    assert "Verify your email" not in client.get(reverse("accounts:overview")).text
    factories.assert_ledger_holds()


def test_an_account_gets_them_once_whatever_address_it_verifies_next(client, mailoutbox):
    sign_up(client, "ada@example.com")
    confirm(client, mailoutbox[0])
    client.post(reverse("account_email"), {"email": "ada.lovelace@example.com", "action_add": ""})

    page = confirm(client, mailoutbox[-1])

    user = get_user_model().objects.get(email="ada.lovelace@example.com")
    assert "You have confirmed ada.lovelace@example.com" in page
    assert factories.balance_micros(user) == 1_000_000


def test_staff_marking_an_address_verified_grants_them_too(admin_client):
    user = factories.user_with_account(email_verified=False)
    address = EmailAddress.objects.get(user=user)

    response = admin_client.post(
        reverse("admin:account_emailaddress_changelist"),
        {"action": "make_verified", "_selected_action": [address.pk]},
        follow=True,
    )

    assert f"$1.00 of starter credits added for verifying {address.email}." in response.text
    assert factories.balance_micros(user) == 1_000_000


def test_an_unverified_user_is_told_how_to_get_them_on_the_account_page_and_playground(
    client, catalog
):
    user = factories.user_with_account(email_verified=False)
    client.force_login(user)

    overview = client.get(reverse("accounts:overview")).text
    playground = client.get(reverse("studio:playground"))
    quote = client.get(reverse("studio:quote"), factories.run_form(), headers=factories.HTMX)

    assert factories.balance_micros(user) == 0
    assert "Verify your email</a> for $1.00 of free starter credits" in overview
    assert playground.status_code == quote.status_code == 200
    for text in (playground.text, quote.text):
        assert "Verify your email</a> for $1.00 of free starter credits" in text
        assert "Balance too low" in text
    verified = factories.signed_in_client(factories.user_with_account())
    assert "Verify your email" not in verified.get(reverse("accounts:overview")).text


def test_zero_starter_credits_grants_nothing_and_promises_nothing(client, settings, mailoutbox):
    settings.STARTER_CREDITS_USD = "0"
    pages = [client.get(reverse(name)).text for name in ("account_signup", "account_login")]
    pages.append(client.get(reverse("catalog:faq")).text)
    pages.append(client.get(reverse("studio:playground")).text)

    signed_up = sign_up(client, "ada@example.com").text
    verified = confirm(client, mailoutbox[0])

    user = get_user_model().objects.get(email="ada@example.com")
    assert factories.balance_micros(user) == 0 and not LedgerEntry.objects.exists()
    for text in [*pages, signed_up, verified, mailoutbox[0].body]:
        assert "starter credits" not in text
    assert "Welcome!" not in signed_up


@pytest.fixture
def github(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "github": {"APPS": [{"client_id": "an-id", "secret": "a-secret"}]}
    }


def social_sign_up(*, email: str, verified: bool):
    """What GitHub's callback does once GitHub answered: read its user (with the addresses
    from its /user/emails, verified or not) and sign them up. The messages they would see."""
    request = RequestFactory().get("/accounts/github/login/callback/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    request._messages = FallbackStorage(request)
    github_user = {
        "id": 42,
        "login": "grace",
        "email": email,
        "emails": [{"email": email, "primary": True, "verified": verified}],
    }
    provider = get_adapter().get_provider(request, "github")
    with context.request_context(request):  # as allauth's middleware sets it
        complete_social_login(request, provider.sociallogin_from_response(request, github_user))
    return [str(message) for message in get_messages(request)]


def test_a_social_sign_up_with_an_address_the_provider_verified_gets_them(github):
    said = social_sign_up(email="grace@example.com", verified=True)

    user = get_user_model().objects.get(email="grace@example.com")
    assert factories.balance_micros(user) == 1_000_000
    assert "Welcome! Your account starts with $1.00 of starter credits." in said


def test_a_social_sign_up_with_an_unverified_address_waits_for_the_verification(github):
    said = social_sign_up(email="grace@example.com", verified=False)

    user = get_user_model().objects.get(email="grace@example.com")
    assert factories.balance_micros(user) == 0
    assert any("Verify your email to get $1.00 of starter credits" in text for text in said)


@pytest.mark.django_db(transaction=True)
def test_verifying_twice_at_once_grants_once(live_server, mailoutbox):
    """Two tabs post the verification link at the same moment, each served by its own thread
    and database connection."""
    with httpx.Client(base_url=live_server.url) as browser:
        signup = browser.get(reverse("account_signup"))
        form = {
            "csrfmiddlewaretoken": signup.cookies["csrftoken"],
            "email": "ada@example.com",
            "password1": factories.PASSWORD,
            "password2": factories.PASSWORD,
        }
        assert browser.post(reverse("account_signup"), data=form).status_code == 302
        link = LINK.search(mailoutbox[0].body)[0].removeprefix(live_server.url)
        token = browser.cookies["csrftoken"]
        start = threading.Barrier(2)
        statuses = []

        def tab():
            start.wait(timeout=10)
            statuses.append(browser.post(link, data={"csrfmiddlewaretoken": token}).status_code)

        tabs = [threading.Thread(target=tab) for _ in range(2)]
        for each in tabs:
            each.start()
        for each in tabs:
            each.join(timeout=30)

    # The second tab's post is a 302 when the two overlap; when it comes after the first has
    # verified the address, allauth answers the link with a 404 (it confirms nothing more).
    assert sorted(statuses) in ([302, 302], [302, 404])
    assert starter_rows("ada@example.com") == [1_000_000]
    factories.assert_ledger_holds()


@pytest.mark.django_db(transaction=True)
def test_the_grant_service_raced_from_threads_grants_once():
    user = factories.user_with_account(email_verified=False)
    address = EmailAddress.objects.get(user=user)
    EmailAddress.objects.filter(pk=address.pk).update(verified=True)
    address.verified = True
    start = threading.Barrier(4)
    granted = []

    def verify():
        try:
            start.wait(timeout=10)
            granted.append(starter_credits_grant(email_address=address))
        finally:
            connection.close()

    threads = [threading.Thread(target=verify) for _ in range(4)]
    for each in threads:
        each.start()
    for each in threads:
        each.join(timeout=30)

    assert len(granted) == 4 and sum(entry is not None for entry in granted) == 1
    assert factories.balance_micros(user) == 1_000_000
    factories.assert_ledger_holds()
