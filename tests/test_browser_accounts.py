"""Accounts in a real browser (Debian's Chromium, driven by Playwright), with the mail read from
the files Django's file backend writes: signing up and verifying the email, changing it and
verifying the new one, resetting a forgotten password, and deleting the account. Every page
runs under the site's Content Security Policy; a violation, page error or 5xx fails the test.
Screenshots of each step land in test-results/<test name>/.
"""

import re
from pathlib import Path

import httpx
import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.urls import reverse
from playwright.sync_api import Page, expect

from playground.gateway.models import Generation
from tests import factories
from tests.browser import Steps, csp_violations, last_mail, site_context

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_MS = 15_000


@pytest.fixture
def mail_folder(settings, tmp_path) -> Path:
    """Where the site writes its mail: one file per message, as with the default settings."""
    folder = tmp_path / "mail"
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(folder)},
        }
    }
    return folder


@pytest.fixture
def page(browser, live_server, catalog) -> Page:
    """A tab on the live site that fails the test on a page error, a 5xx or a CSP violation."""
    context = site_context(browser, base_url=live_server.url)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
    tab.on("load", lambda loaded: problems.extend(csp_violations(loaded)))
    tab.set_default_timeout(TIMEOUT_MS)
    yield tab
    context.close()
    assert problems == []


def sign_up(page: Page, address: str) -> None:
    page.goto(reverse("account_signup"))
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password:", exact=True).fill(factories.PASSWORD)
    page.get_by_label("Password (again)").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/playground/$"))


def open_confirmation(page: Page, link: str, address: str) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm Email Address")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status").first).to_contain_text(f"You have confirmed {address}")


def test_sign_up_verify_the_email_then_change_it(page, mail_folder, request):
    steps = Steps(request.node.name)
    sign_up(page, "ada@example.com")
    expect(page.locator("#balance")).to_contain_text("$0.00")  # nothing before verifying
    expect(page.get_by_text("Verify your email for $1.00 of free starter credits")).to_be_visible()
    steps.shot(page, "signed-up")
    subject, link = last_mail(mail_folder, to="ada@example.com")
    assert subject == "[Qwen Image Playground] Confirm your email address"

    open_confirmation(page, link, "ada@example.com")
    expect(page.get_by_text("$1.00 of starter credits added")).to_be_visible()
    expect(page.locator("#balance")).to_contain_text("$1.00")
    steps.shot(page, "verified")
    assert EmailAddress.objects.get(email="ada@example.com").verified

    page.goto(reverse("accounts:settings"))
    page.get_by_role("link", name="Change your email").click()
    page.get_by_label("New email address").fill("ada.lovelace@example.com")
    page.get_by_role("button", name="Change email").click()
    expect(page.locator("main")).to_contain_text("Changing to: ada.lovelace@example.com")
    steps.shot(page, "change-pending")
    _, link = last_mail(mail_folder, to="ada.lovelace@example.com")
    open_confirmation(page, link, "ada.lovelace@example.com")

    page.goto(reverse("accounts:settings"))
    emails = page.locator(".email-list li")
    expect(emails).to_have_count(1)
    expect(emails).to_contain_text("ada.lovelace@example.com")
    expect(emails).to_contain_text("Verified")
    steps.shot(page, "changed")
    assert get_user_model().objects.get(username="ada").email == "ada.lovelace@example.com"


def test_reset_a_forgotten_password_from_the_mail(page, mail_folder, request):
    steps = Steps(request.node.name)
    user = factories.user_with_account()
    page.goto(reverse("account_login"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Reset My Password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password Reset")
    steps.shot(page, "mail-sent")
    subject, link = last_mail(mail_folder, to=user.email)
    assert subject == "[Qwen Image Playground] Reset your password"

    page.goto(link)
    page.get_by_label("New Password:", exact=True).fill("a-brand-new-password-7")
    page.get_by_label("New Password (again)").fill("a-brand-new-password-7")
    steps.shot(page, "new-password")
    page.get_by_role("button", name="Change Password").click()
    expect(page.locator("main")).to_contain_text("Your password is now changed.")

    page.goto(reverse("account_login"))
    page.get_by_label("Username or email").fill(user.email)
    page.get_by_label("Password").fill("a-brand-new-password-7")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".user")).to_have_text(user.username)
    steps.shot(page, "logged-in")


def test_delete_the_account(page, live_server, request):
    steps = Steps(request.node.name)
    user = factories.user_with_account()
    raw_key = factories.raw_api_key(user=user)
    [generation] = factories.api_images(live_server.url, user, "a teapot on the moon")
    files = [image.file.name for image in generation.images.all()]
    assert files and all(default_storage.exists(name) for name in files)
    page.goto(reverse("account_login"))
    page.get_by_label("Username or email").fill(user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Settings").first.click()
    page.get_by_label("Your password or username").fill(user.username)
    steps.shot(page, "settings")

    page.get_by_role("button", name="Delete my account").click()

    expect(page.get_by_role("status").first).to_contain_text("Your account is deleted")
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    steps.shot(page, "deleted")
    factories.assert_ledger_holds()
    assert not any(default_storage.exists(name) for name in files)
    assert Generation.objects.get(pk=generation.pk).prompt == ""
    refused = httpx.get(
        f"{live_server.url}/v1/models", headers={"Authorization": f"Bearer {raw_key}"}
    )
    assert refused.status_code == 401
