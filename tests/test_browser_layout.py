"""The account pages on a phone in a real browser (Debian's Chromium, driven by Playwright):
tables with more columns than a phone has room for (keys, ledger, usage, sessions, payments, a
webhook's attempts) scroll sideways inside their box, and the page itself never does.
Screenshots land in test-results/<test name>/."""

from collections.abc import Iterator

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser

from playground.gateway.models import Generation, WebhookDelivery
from tests import factories
from tests.browser import Steps, chromium, site_context

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 375, "height": 740}


@pytest.fixture
def generation(catalog, user) -> Generation:
    """A finished generation of `user`'s, whose webhook was tried once and failed."""
    generation = factories.finished_generation(user)
    generation.params["webhook_url"] = "https://hooks.example.com/a/rather/long/path/for/images"
    generation.save(update_fields=["params"])
    WebhookDelivery.objects.create(
        generation=generation,
        attempt=1,
        sent_at=timezone.now(),
        status_code=502,
        response_excerpt='{"error": "bad gateway", "detail": "the upstream timed out"}',
        duration_ms=340,
        next_attempt_at=timezone.now(),
    )
    return generation


@pytest.fixture
def browser(generation) -> Iterator[Browser]:
    """Chromium once the generation exists: running it (`async_to_sync`) cannot happen in a
    thread where Playwright's event loop runs."""
    with chromium() as browser:
        yield browser


def test_on_a_phone_wide_tables_scroll_in_their_box_and_the_page_does_not(
    browser, live_server, user, generation, request
):
    steps = Steps(request.node.name)
    factories.raw_api_key(user=user)
    context = site_context(browser, base_url=live_server.url, user=user, viewport=PHONE)
    page = context.new_page()
    paths = [
        reverse("accounts:overview"),
        reverse("accounts:api-keys"),
        reverse("accounts:usage"),
        reverse("accounts:settings"),
        reverse("billing:payments"),
        reverse("accounts:generation", args=[generation.pk]),
        reverse("studio:generation", args=[generation.pk]),
    ]
    for path in paths:
        page.goto(path)
        steps.shot(page, path.strip("/").replace("/", "-"))

        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    context.close()
