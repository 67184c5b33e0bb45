"""How the browser tests start Debian's Chromium (Playwright never downloads a browser here),
the screenshots they leave in test-results/, and how they read the site's mail."""

import email
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests import factories

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
RESULTS = Path(__file__).resolve().parent.parent / "test-results"
LINK = re.compile(r"https?://\S+")
# Recorded in the page before any of its scripts run; read back with `csp_violations`.
LISTEN_FOR_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


class Steps:
    """Numbered full-page screenshots of one test's steps, in test-results/<test name>/."""

    def __init__(self, name: str):
        self.folder = RESULTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def shot(self, page: Page, label: str) -> None:
        self.count += 1
        page.screenshot(path=self.folder / f"{self.count:02d}-{label}.png", full_page=True)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Chromium under Playwright. Its sync API runs an event loop in the test's thread, so
    Django takes the test's database work for async code meanwhile: it is allowed."""
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def site_context(browser: Browser, *, base_url: str, user=None, **options) -> BrowserContext:
    """A browser context on the site at `base_url` whose pages record CSP violations; with
    `user`, signed in as them in a session of its own. `options` go to `new_context`."""
    context = browser.new_context(base_url=base_url, **options)
    if user is not None:
        session = factories.signed_in_client(user).cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": session.key, "value": session.value, "url": base_url}])
    context.add_init_script(LISTEN_FOR_CSP)
    return context


def last_mail(folder: Path, *, to: str) -> tuple[str, str]:
    """The subject and the link of the newest message in the mail folder (Django's file
    backend), which must be to `to`. The site sends mail within the request, so it is there
    once its page has loaded."""
    newest = max(folder.iterdir(), key=lambda path: path.stat().st_mtime_ns)
    message = email.message_from_bytes(newest.read_bytes(), policy=policy.default)
    assert message["To"] == to
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert message.get_body(preferencelist=("html",)) is not None  # an HTML part too
    return message["Subject"], LINK.search(text)[0]


def csp_violations(page: Page) -> list[str]:
    """The CSP violations the page reported since it loaded (`site_context`'s pages)."""
    return page.evaluate("window.__violations")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of the test_browser_* modules `browser`, so a run can leave them out
    (`-m "not browser"`): .ci/run drives Chromium once, on SQLite, since what they prove is the
    page; the database under them is the same services the HTTP tests run on PostgreSQL."""
    for item in items:
        if item.path.name.startswith("test_browser_"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for a module's tests."""
    with chromium() as browser:
        yield browser
