"""Copy buttons and the 404 page in a real browser (Debian's Chromium, driven by Playwright),
with clipboard access granted and the Content Security Policy enforced. Screenshots of each
step land in test-results/<test name>/."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from playground.accounts.models import ApiKey
from tests.browser import Steps, csp_violations, site_context

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_MS = 15_000


@pytest.fixture
def page(browser, live_server, catalog, user) -> Page:
    """A tab signed in as `user` that may read and write the clipboard, failing the test on any
    page error or CSP violation."""
    context = site_context(
        browser,
        base_url=live_server.url,
        user=user,
        permissions=["clipboard-read", "clipboard-write"],
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(TIMEOUT_MS)
    yield tab
    assert csp_violations(tab) == []
    context.close()
    assert errors == []


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def test_copy_buttons_copy_the_base_url_a_code_block_and_a_new_key(page, live_server, request):
    steps = Steps(request.node.name)
    page.goto(reverse("catalog:api-docs"))

    base_url = page.get_by_role("button", name="Copy the base URL")
    base_url.click()

    expect(base_url).to_have_text("Copied")
    expect(page.locator("[aria-live=polite]")).to_have_text("Copied to the clipboard.")
    assert clipboard(page) == f"{live_server.url}/v1"
    expect(base_url).to_have_text("Copy")  # the label comes back
    section = page.locator("section[aria-labelledby=authentication]")
    copy_code = section.get_by_role("button", name="Copy code")
    copy_code.click()
    expect(copy_code).to_have_text("Copied")
    assert clipboard(page) == section.locator("pre").inner_text().strip()
    assert clipboard(page).startswith(f"curl {live_server.url}/v1/models")
    steps.shot(page, "api-docs")

    # A key made on the API keys page, copied from the keyboard: Tab from the key to its button,
    # then Enter. htmx focuses the key (its autofocus) when it swaps it in and again when the swap
    # settles, 20 ms later: Tab once it has.
    page.goto(reverse("accounts:api-keys"))
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-value")).to_be_focused()
    expect(page.locator("#keys")).not_to_have_class(re.compile("htmx-settling"))
    copy_key = page.locator("button[data-copy='#new-key-value']")  # its name becomes "Copied"
    page.keyboard.press("Tab")
    expect(copy_key).to_be_focused()
    page.keyboard.press("Enter")

    expect(copy_key).to_have_text("Copied")
    raw_key = page.locator("#new-key-value").input_value()
    assert clipboard(page) == raw_key
    assert ApiKey.objects.get(name="laptop").prefix in raw_key
    steps.shot(page, "new-key")


def test_a_missing_page_is_styled_as_the_site(page, request):
    response = page.goto("/no/such/page/")

    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    # The site's stylesheet applies: the accent colour, the footer's links.
    expect(page.locator(".error-code")).to_have_css("color", "rgb(91, 63, 214)")
    expect(
        page.get_by_role("navigation", name="Site").get_by_role("link", name="Terms")
    ).to_be_visible()
    Steps(request.node.name).shot(page, "404")
