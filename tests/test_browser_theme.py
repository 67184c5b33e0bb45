"""The colour scheme, the phone menu and the site from the keyboard alone, in a real browser
(Debian's Chromium, driven by Playwright). static/js/theme.js runs both the scheme's toggle
and the menu; without JavaScript the page follows the system's scheme and shows the whole nav.
Screenshots of each step land in test-results/<test name>/.
"""

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import Steps, site_context

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_MS = 15_000
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
BACKGROUND = "getComputedStyle(document.body).backgroundColor"
LIGHT_BG, DARK_BG = "rgb(247, 247, 251)", "rgb(21, 21, 27)"
LIGHT_FOCUS, DARK_FOCUS = "rgb(180, 83, 9)", "rgb(255, 179, 0)"
LIGHT_INK, DARK_INK = "rgb(29, 29, 36)", "rgb(230, 230, 238)"

# The scheme on <html> when the parser reaches <body>, before anything is painted.
SCHEME_AT_BODY = """
new MutationObserver((changes, observer) => {
  if (!document.body) return;
  window.schemeAtBody = document.documentElement.dataset.theme || "system";
  observer.disconnect();
}).observe(document, {childList: true, subtree: true});
"""

expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def open_page(browser: Browser, live_server):
    """Opens a tab on the live server in a context of its own (its own localStorage); with
    `user`, signed in as them. The test fails on any error in the page's scripts."""
    contexts, errors = [], []

    def open_page(*, user=None, **options) -> Page:
        context = site_context(browser, base_url=live_server.url, user=user, **options)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == []


def theme_toggle(page: Page) -> Locator:
    return page.get_by_role("button", name="Theme:")


def test_the_scheme_follows_the_system_until_the_toggle_picks_one(open_page, catalog, request):
    steps = Steps(request.node.name)
    page = open_page(viewport=DESKTOP, color_scheme="dark")
    page.context.add_init_script(SCHEME_AT_BODY)
    page.goto("/models/")
    assert page.evaluate(BACKGROUND) == DARK_BG
    expect(theme_toggle(page)).to_have_accessible_name("Theme: system")
    steps.shot(page, "system-dark")

    theme_toggle(page).click()
    expect(theme_toggle(page)).to_have_accessible_name("Theme: light")
    assert page.evaluate(BACKGROUND) == LIGHT_BG
    page.reload()  # remembered, and on <html> before the first paint
    assert page.evaluate("window.schemeAtBody") == "light"
    expect(theme_toggle(page)).to_have_accessible_name("Theme: light")
    assert page.evaluate(BACKGROUND) == LIGHT_BG
    assert page.evaluate("localStorage.getItem('theme')") == "light"
    steps.shot(page, "light-over-a-dark-system")

    theme_toggle(page).click()
    page.emulate_media(color_scheme="light")
    expect(theme_toggle(page)).to_have_accessible_name("Theme: dark")
    assert page.evaluate(BACKGROUND) == DARK_BG
    steps.shot(page, "dark-over-a-light-system")

    theme_toggle(page).click()  # back to the system's scheme, which is light now
    expect(theme_toggle(page)).to_have_accessible_name("Theme: system")
    assert page.evaluate(BACKGROUND) == LIGHT_BG
    page.reload()
    assert page.evaluate("localStorage.getItem('theme')") is None
    assert page.evaluate(BACKGROUND) == LIGHT_BG


def test_the_phone_menu_opens_and_closes_and_wide_screens_have_none(open_page, catalog, request):
    steps = Steps(request.node.name)
    page = open_page(viewport=PHONE)
    page.goto("/models/")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    steps.shot(page, "phone-closed")

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Pricing")).to_be_visible()
    steps.shot(page, "phone-open")
    nav.get_by_role("link", name="Pricing").focus()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(menu).to_be_focused()

    page.set_viewport_size(DESKTOP)
    expect(menu).to_be_hidden()
    expect(nav.get_by_role("link", name="Pricing")).to_be_visible()
    steps.shot(page, "desktop")

    no_js = open_page(viewport=PHONE, java_script_enabled=False)
    no_js.goto("/models/")
    expect(
        no_js.get_by_role("navigation", name="Main").get_by_role("link", name="Pricing")
    ).to_be_visible()
    for button in [no_js.locator(".menu-button"), no_js.locator(".theme-toggle")]:
        expect(button).to_have_count(1)
        expect(button).to_be_hidden()
    steps.shot(no_js, "phone-without-javascript")


def test_stripes_card_element_takes_the_schemes_text_colour(open_page, catalog, user, stripe_fake):
    """Stripe draws the card's fields in an iframe that the site's CSS does not reach."""
    page = open_page(user=user, viewport=DESKTOP, color_scheme="dark")
    page.goto("/accounts/top-up/")
    card_colour = "stripeElements[0].options.style.base.color"
    assert page.evaluate(card_colour) == DARK_INK

    theme_toggle(page).click()  # light
    expect(theme_toggle(page)).to_have_accessible_name("Theme: light")
    assert page.evaluate(card_colour) == LIGHT_INK


def tab_to(page: Page, target: Locator, *, most: int = 40) -> None:
    """Press Tab until `target` has the focus (failing after `most` presses)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{most} presses of Tab never reached {target}")


def assert_focus_ring(page: Page, colour: str) -> None:
    """The focused element draws the site's focus outline, in the scheme's colour."""
    outline = page.evaluate(
        "(style => [style.outlineStyle, style.outlineWidth, style.outlineColor])"
        "(getComputedStyle(document.activeElement))"
    )
    assert outline == ["solid", "3px", colour]


def test_the_site_from_the_keyboard_alone(open_page, catalog, user, request):
    steps = Steps(request.node.name)
    page = open_page(user=user, viewport=PHONE, color_scheme="light")
    page.goto("/playground/")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert_focus_ring(page, LIGHT_FOCUS)
    steps.shot(page, "skip-link")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")

    page.reload()
    menu = page.get_by_role("button", name="Menu")
    tab_to(page, menu)
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link").first).to_be_focused()
    steps.shot(page, "menu-open")
    page.keyboard.press("Escape")
    expect(menu).to_be_focused()

    tab_to(page, theme_toggle(page))
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(theme_toggle(page)).to_have_accessible_name("Theme: dark")
    assert page.evaluate(BACKGROUND) == DARK_BG
    assert_focus_ring(page, DARK_FOCUS)
    steps.shot(page, "dark-from-the-keyboard")

    prompt = page.get_by_label("Prompt", exact=True)
    tab_to(page, prompt)
    page.keyboard.type("A lighthouse at dawn, typed")
    generate = page.get_by_role("button", name="Generate")
    tab_to(page, generate)
    assert_focus_ring(page, DARK_FOCUS)
    page.keyboard.press("Enter")
    card = page.locator("#results .card").first
    expect(card.locator(".status")).to_have_text("Done")
    expect(card).to_contain_text("A lighthouse at dawn, typed")
    steps.shot(page, "generated")
