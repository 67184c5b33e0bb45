"""An accessibility audit of the main pages with axe-core (tests/js/node_modules/axe-core, from
tests/js/package.json) in a real browser (Debian's Chromium, driven by Playwright): light and
dark colour schemes, on a desktop and on a 375px-wide phone, signed out and signed in.

A page passes with no violation of impact "serious" or "critical". Every violation found is
printed (rule, impact, the elements at fault), and each run leaves in test-results/a11y/ a JSON
summary and a screenshot of every page, to know what to fix and to see each scheme.
"""

import json
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import RESULTS, site_context

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}
PUBLIC_PAGES = ["/", "/models/", "/models/qwen-image/", "/pricing/", "/playground/"]
ACCOUNT_PAGES = ["/playground/", "/accounts/", "/accounts/top-up/"]
LOAD_TIMEOUT_MS = 15_000


def open_tab(browser: Browser, base_url: str, *, viewport: str, user) -> Page:
    """A tab (signed in as `user`, if any) that lets axe's script in: the site's Content
    Security Policy allows only its own scripts, so this context alone bypasses it."""
    context = site_context(
        browser, base_url=base_url, user=user, viewport=VIEWPORTS[viewport], bypass_csp=True
    )
    context.set_default_timeout(LOAD_TIMEOUT_MS)
    return context.new_page()


def audit(page: Page, path: str, screenshot: Path) -> list[dict]:
    """axe's violations on one loaded page, each reduced to its rule, impact and elements."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshot, full_page=True)
    page.add_script_tag(path=AXE)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "page": path,
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [
                {"target": node["target"], "summary": node["failureSummary"]}
                for node in violation["nodes"]
            ],
        }
        for violation in results["violations"]
    ]


def report(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"{violation['page']}: {violation['id']} ({violation['impact']}) {violation['help']}"
        )
        for node in violation["nodes"]:
            lines.append(f"    {node['target']}: {node['summary'].replace(chr(10), ' ')}")
    return "\n".join(lines)


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_main_pages_have_no_serious_accessibility_violation(
    browser, live_server, catalog, user, stripe_fake, scheme, viewport
):
    folder = RESULTS / "a11y" / f"{scheme}-{viewport}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    violations = []
    for who, signed_in, paths in [("visitor", None, PUBLIC_PAGES), ("user", user, ACCOUNT_PAGES)]:
        page = open_tab(browser, live_server.url, viewport=viewport, user=signed_in)
        page.emulate_media(color_scheme=scheme)
        for path in paths:
            name = path.strip("/").replace("/", "-") or "home"
            violations += audit(page, path, folder / f"{who}-{name}.png")
        page.context.close()

    (folder / "violations.json").write_text(json.dumps(violations, indent=2))
    print(report(violations))
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, "axe found serious or critical violations:\n" + report(blocking)
