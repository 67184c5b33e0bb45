"""Every page passes the Content Security Policy in a real browser (Debian's Chromium, driven by
Playwright) with no console error: logged out, logged in, and the admin as staff.

Each page is loaded, left until the network is idle (htmx requests included), and a second
look at the CSP violations the page reported through `securitypolicyviolation` events is
taken after that. Violations are reported with their directive, the blocked resource and the
line, to find the template at fault.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser, ConsoleMessage, Page

from playground.accounts.services import api_key_create
from playground.gateway.models import Generation
from tests import factories
from tests.browser import chromium

pytestmark = pytest.mark.django_db(transaction=True)

LOAD_TIMEOUT_MS = 15_000
FAVICON = "/favicon.ico"  # asked for by the browser itself: see test_the_site_has_a_favicon
# Recorded in the page before any of its scripts run.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  });
});
"""
PUBLIC_PAGES = [
    "/",
    "/playground/",
    "/playground/compare/",
    "/models/",
    "/models/qwen-image/",
    "/models/qwen-image-edit-2509/",
    "/pricing/",
    "/faq/",
    "/docs/api/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
]
ACCOUNT_PAGES = [
    "/?home",
    "/playground/",
    "/playground/history/",
    "/playground/compare/",
    "/accounts/",
    "/accounts/usage/",
    "/accounts/api-keys/",
    "/accounts/top-up/",
    "/accounts/payments/",
    "/accounts/auto-top-up/",
    "/accounts/settings/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/sessions/",
    "/accounts/3rdparty/",
    "/models/qwen-image/",
]
ADMIN_PAGES = [  # by name: the admin's path is a setting
    "admin:index",
    "admin:gateway_generation_changelist",
    "admin:gateway_generationimage_changelist",
    "admin:accounts_ledgerentry_changelist",
    "admin:accounts_apikey_changelist",
    "admin:billing_payment_changelist",
    "admin:auth_user_changelist",
]


@dataclass
class Visit:
    path: str
    status: int | None = None
    console: list[str] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [f"HTTP {self.status}"] if self.status != 200 else []
        found += [f"console: {text}" for text in self.console]
        found += [
            f"CSP {v['directive']} blocked {v['blocked'] or 'inline'} at "
            f"{v['source']}:{v['line']} {v['sample']!r}"
            for v in self.violations
        ]
        return found


@pytest.fixture
def people(catalog):
    """A user with a finished generation and an API key, and a staff member: their session
    cookies, and the per-user pages to visit."""
    user = factories.user_with_account()
    client = Client()
    client.force_login(user)
    client.post(
        reverse("studio:generate"),
        {
            "model": "qwen-image:generate",
            "prompt": "a lighthouse at dawn",
            "aspect_ratio": "1:1",
            "resolution": "1K",
            "n": "1",
            "output_format": "png",
        },
        headers={"HX-Request": "true"},
    )
    generation = Generation.objects.get(user=user)
    api_key_create(user=user, name="a key")
    staff = factories.user_with_account()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    admin = Client()
    admin.force_login(staff)
    return {
        "user": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
        "staff": admin.cookies[django_settings.SESSION_COOKIE_NAME].value,
        "user_pages": [
            *ACCOUNT_PAGES,
            reverse("studio:generation", args=[generation.pk]),
            reverse("accounts:generation", args=[generation.pk]),
        ],
        "admin_pages": [
            *(reverse(name) for name in ADMIN_PAGES),
            reverse("admin:gateway_generation_change", args=[generation.pk]),
            reverse("admin:auth_user_change", args=[user.pk]),
        ],
    }


@pytest.fixture
def browser(people) -> Iterator[Browser]:
    """Chromium once the test's people exist: making them runs a generation (`async_to_sync`),
    which cannot happen in a thread where Playwright's event loop runs."""
    with chromium() as browser:
        yield browser


def visit_all(browser: Browser, origin: str, paths: list[str], session: str | None) -> list[Visit]:
    context = browser.new_context()
    if session:
        context.add_cookies(
            [{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": origin}]
        )
    context.add_init_script(LISTEN)
    page = context.new_page()
    try:
        return [visit(page, origin, path) for path in paths]
    finally:
        context.close()


def visit(page: Page, origin: str, path: str) -> Visit:
    seen = Visit(path)

    def on_console(message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not where.endswith(FAVICON):
            seen.console.append(f"{message.text} ({where})" if where else message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.console.append(f"uncaught {error}"))
    try:
        response = page.goto(origin + path, wait_until="networkidle", timeout=LOAD_TIMEOUT_MS)
        seen.status = response.status if response else None
        seen.violations = page.evaluate("window.__violations")
    finally:
        page.remove_listener("console", on_console)
    return seen


def report(visits: list[Visit]) -> str:
    return "\n".join(f"{visit.path}: {problem}" for visit in visits for problem in visit.problems)


def test_every_page_passes_the_csp_with_no_console_error(live_server, people, browser):
    visits = [
        *visit_all(browser, live_server.url, PUBLIC_PAGES, None),
        *visit_all(browser, live_server.url, people["user_pages"], people["user"]),
        *visit_all(browser, live_server.url, people["admin_pages"], people["staff"]),
    ]

    assert len(visits) == len(PUBLIC_PAGES) + len(people["user_pages"]) + len(people["admin_pages"])
    assert not report(visits), "\n" + report(visits)


def test_the_csp_forbids_inline_code_and_the_listener_sees_it(live_server, browser):
    context = browser.new_context()
    context.add_init_script(LISTEN)
    page = context.new_page()
    response = page.goto(live_server.url + "/playground/")
    policy = response.headers["content-security-policy"]
    blocked = page.evaluate(
        """() => {
            const before = window.__injected;
            const script = document.createElement("script");
            script.textContent = "window.__injected = true";
            document.head.appendChild(script);
            return window.__injected === before;
        }"""
    )
    violations = page.evaluate("window.__violations")
    context.close()

    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert blocked  # an injected inline script does not run
    assert [v["directive"] for v in violations] == ["script-src-elem"]  # and is reported


def test_the_site_has_a_favicon(live_server, browser):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.location.get("url", "")))
    page.goto(live_server.url + "/playground/", wait_until="networkidle")
    context.close()

    assert not [url for url in errors if url.endswith(FAVICON)]
