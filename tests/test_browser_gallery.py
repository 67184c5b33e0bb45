"""A published image in a real browser (Debian's Chromium, driven by Playwright): the owner
publishes it from the generation's page, a visitor finds it on the front page and opens the
playground with its settings. Screenshots of each step land in test-results/<test name>/."""

import re
from collections.abc import Iterator

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, expect

from tests import factories
from tests.browser import Steps, chromium, site_context

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_MS = 15_000


@pytest.fixture
def generation(catalog, user):
    return factories.finished_generation(
        user, prompt="a paper boat on a pond", seed="99", lock_seed="on"
    )


@pytest.fixture
def browser(generation) -> Iterator[Browser]:
    """Chromium once the generation exists: running it (`async_to_sync`) cannot happen in a
    thread where Playwright's event loop runs."""
    with chromium() as browser:
        yield browser


def test_a_published_image_is_found_on_the_front_page_and_reused(
    browser, live_server, user, generation, request
):
    steps = Steps(request.node.name)
    owner = site_context(browser, base_url=live_server.url, user=user)
    page = owner.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(reverse("studio:generation", args=[generation.pk]))

    page.get_by_role("button", name="Publish to the gallery").click()

    expect(page.locator("#gallery-choices")).to_contain_text("in the gallery")
    expect(page.get_by_role("button", name="Unpublish")).to_be_visible()
    steps.shot(page, "published")

    visitor = browser.new_page(base_url=live_server.url)
    visitor.set_default_timeout(TIMEOUT_MS)
    visitor.goto("/")
    expect(visitor.get_by_role("heading", name="Recently published")).to_be_visible()
    steps.shot(visitor, "front-page")
    visitor.get_by_role("link", name="Reuse these settings").first.click()

    visitor.wait_for_url(re.compile(r"/playground/\?gallery=\d+$"))
    expect(visitor.get_by_label("Prompt", exact=True)).to_have_value("a paper boat on a pond")
    expect(visitor.locator("input[name=seed]")).to_have_value("99")
    steps.shot(visitor, "playground-filled")
    owner.close()
