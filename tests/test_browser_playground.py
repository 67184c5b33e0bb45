"""The playground in a real browser: Debian's Chromium, driven by Playwright, against the site as
`make run` serves it: uvicorn and the database task worker, each in its own process, on a fresh
SQLite database and media folder.

Two sites: one with no provider keys (the demo provider draws every image), and one whose fal.ai
key points at the fake fal queue of `tests/fakes/`, which the tests hold and release to watch a
job queue, run, finish or be cancelled upstream. Each step leaves a screenshot in
`test-results/<test name>/`.
"""

import base64
import io
import itertools
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    expect,
)

from playground.accounts.money import format_usd_rounded, usd_to_micros
from playground.providers.registry import PROVIDER_CLASSES
from tests import factories
from tests.browser import RESULTS, Steps, last_mail
from tests.fakes.fal import FalFake

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60
WAIT_MS = 20_000
PHONE = {"width": 390, "height": 844}
# Settings of the host that must not leak into the sites under test.
FOREIGN_ENV = {
    "DATABASE_URL",
    "STORAGE_BUCKET",
    "REDIS_URL",
    "TASKS_BACKEND",
    *(name for cls in PROVIDER_CLASSES.values() for name in (cls.key_env, cls.base_url_env)),
}

_usernames = (f"browser{n}" for n in itertools.count(1))

expect.set_options(timeout=WAIT_MS)


class Site:
    """The site in two processes, uvicorn and `run_tasks`, on its own database and media (in a
    folder of its own: pytest's temporary folders are pruned by other pytest runs). Their output
    goes to test-results/site-<name>.log."""

    def __init__(self, name: str, *, env: dict[str, str] | None = None):
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"playground-{name}-"))
        self.env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV} | {
            "DATA_DIR": str(self.data_dir),
            "DEBUG": "true",
            "STARTER_CREDITS_USD": "1.00",
            "LOG_LEVEL": "WARNING",
            # Each test signs up a user of its own, more than five a minute from one address.
            "SIGN_UP_RATE_LIMIT_PER_MINUTE": "50",
            **(env or {}),
        }
        RESULTS.mkdir(exist_ok=True)
        self.log = (RESULTS / f"site-{name}.log").open("w")
        self.url = ""
        self.processes: list[subprocess.Popen] = []

    def start(self) -> "Site":
        for command in (["migrate", "--noinput"], ["load_catalog"]):
            self._manage(command, wait=True)
        server = self._spawn(
            [sys.executable, "-m", "uvicorn", "playground.asgi:application", "--port", "0"],
            stderr=subprocess.PIPE,
        )
        self.url = self._announced_url(server)
        self._manage(["run_tasks", "--interval", "0.1"])
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _manage(self, command: list[str], *, wait: bool = False) -> None:
        process = self._spawn([sys.executable, "manage.py", *command])
        if wait and process.wait(timeout=STARTUP_SECONDS):
            raise RuntimeError(f"manage.py {' '.join(command)} failed: see {self.log.name}")

    def _spawn(self, command: list[str], **streams) -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=streams.get("stderr", subprocess.STDOUT),
            text=True,
        )
        self.processes.append(process)
        return process

    def _announced_url(self, server: subprocess.Popen) -> str:
        """Wait until uvicorn says where it listens; its output then goes on to the log."""
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in server.stderr:
                self.log.write(line)
                if not found and (match := re.search(r"running on (http://\S+)", line)):
                    found.append(match[1])
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(STARTUP_SECONDS) or not found:
            raise RuntimeError(f"uvicorn did not start: see {self.log.name}")
        return found[0]


@pytest.fixture(scope="module")
def demo_site() -> Iterator[Site]:
    site = Site("demo")
    try:
        yield site.start()
    finally:
        site.stop()


@pytest.fixture(scope="module")
def fal_site() -> Iterator[tuple[Site, FalFake]]:
    with FalFake() as fal:
        site = Site("fal", env=fal.env)
        try:
            yield site.start(), fal
        finally:
            site.stop()


@pytest.fixture
def fal(fal_site) -> Iterator[FalFake]:
    """The fake fal queue, back to answering at once after the test."""
    _, fake = fal_site
    yield fake
    fake.queue_position, fake.logs, fake.job_error = 0, (), None
    fake.release_jobs()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[..., Page]]:
    """Opens pages in fresh browser contexts; the test fails on any JavaScript error (htmx
    reports its own on the console) or any server error on the way."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Not the playground's: a missing favicon, and Chromium's own viewer of a bare image
        # (its inline styles meet the site's Content-Security-Policy).
        ignored = message.text.startswith("Failed to load resource") or (
            "/media/" in message.page.url
        )
        if message.type == "error" and not ignored:
            problems.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 500:
            problems.append(f"{response.status} {response.url}")

    def open_page(**options) -> Page:
        context = browser.new_context(accept_downloads=True, **options)
        context.set_default_timeout(WAIT_MS)
        context.on("weberror", lambda error: problems.append(str(error.error)))
        context.on("console", on_console)
        context.on("response", on_response)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert not problems


@pytest.fixture
def page(open_page) -> Page:
    return open_page()


@pytest.fixture
def steps(request) -> Steps:
    return Steps(request.node.name)


def sign_up(page: Page, site: Site) -> str:
    username = next(_usernames)
    page.goto(f"{site.url}/accounts/signup/")
    page.locator("input[name=email]").fill(f"{username}@example.com")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password1]").fill(factories.PASSWORD)
    page.locator("input[name=password2]").fill(factories.PASSWORD)
    follow(page, page.get_by_role("button", name="Sign up"), f"{site.url}/playground/")
    expect(page.locator("#balance")).to_contain_text("$0.00")
    _, link = last_mail(site.data_dir / "mail", to=f"{username}@example.com")
    page.goto(link)
    follow(page, page.get_by_role("button", name="Confirm"), re.compile(r"/playground/$"))
    expect(page.locator("#balance")).to_contain_text("$1.00")  # the starter credits
    return username


def follow(page: Page, link: Locator, url: str | re.Pattern) -> None:
    """Click through to another page and wait until it has loaded (and htmx with it)."""
    link.click()
    expect(page).to_have_url(url)
    page.wait_for_load_state()


def header_balance(page: Page) -> int:
    return shown_micros(page.locator("#balance strong"))


def shown_micros(amount: Locator) -> int:
    """An amount on the page to the micro-dollar: the exact figure on hover where it is rounded."""
    rounded = amount.locator(".usd")
    exact = rounded.get_attribute("title") if rounded.count() else amount.inner_text()
    return usd_to_micros(exact.removesuffix(" exactly").lstrip("$"))


def price_micros(page: Page) -> int:
    return shown_micros(page.locator(".runbar .cost"))


def choose_model(page: Page, value: str) -> None:
    page.get_by_label("Model").select_option(value)
    expect(page).to_have_url(re.compile(re.escape(value.replace(":", "%3A")) + "$"))


def newest_card(page: Page):
    return page.locator("#results .card").first


# With the demo provider


def test_sign_up_generate_and_watch_the_job(page: Page, demo_site: Site, steps: Steps):
    page.goto(f"{demo_site.url}/playground/")
    expect(page.get_by_text("verify your email for $1.00 of free starter credits")).to_be_visible()
    expect(page.get_by_role("button", name="Generate")).to_have_count(0)
    steps.shot(page, "visitor-sees-a-sign-up-prompt")

    page.get_by_role("link", name="Sign up").first.click()
    steps.shot(page, "sign-up-form")
    sign_up(page, demo_site)
    steps.shot(page, "signed-in-with-starter-credits")

    page.get_by_label("Prompt", exact=True).fill("A lighthouse at dawn, watercolour")
    square = page.locator(".runbar .cost .usd").get_attribute("title")
    page.get_by_text("16:9", exact=True).click()
    # Priced per megapixel: both round to $0.021, the exact figures differ.
    expect(page.locator(".runbar .cost .usd")).not_to_have_attribute("title", square)
    one_image = price_micros(page)
    images = page.get_by_role("group", name="Images")
    images.get_by_role("radio", name="1", exact=True).focus()
    page.keyboard.press("ArrowRight")  # the chips work from the keyboard
    expect(images.get_by_role("radio", name="2", exact=True)).to_be_checked()
    expect(page.locator(".runbar .cost")).to_have_text(format_usd_rounded(2 * one_image))
    steps.shot(page, "price-for-two-images")

    page.get_by_text("Advanced", exact=True).click()
    page.get_by_label("Cfg scale").fill("4.5")
    page.get_by_label("Acceleration").select_option("high")
    steps.shot(page, "advanced-controls-and-provider-flags")

    page.get_by_role("button", name="Generate").click()
    card = newest_card(page)
    expect(card.locator(".progress")).to_contain_text("Queued")
    steps.shot(page, "queued-at-once")
    expect(card.get_by_role("img")).to_have_count(2)
    expect(card.locator(".status")).to_have_text("Done")
    expect(card).to_contain_text("1365 × 768")
    expect(page.locator("#announcer")).to_have_text("Qwen Image: done.")
    card.get_by_text("Parameters").click()
    expect(card.locator(".params")).to_contain_text("Cfg scale4.5")
    expect(card.locator(".params")).to_contain_text("Accelerationhigh")
    steps.shot(page, "done-with-two-images")

    charged = shown_micros(card.locator(".cost"))
    assert charged == 2 * one_image
    expect(page.locator("#balance")).to_contain_text(format_usd_rounded(1_000_000 - charged))

    with page.expect_popup() as popup:
        card.get_by_role("img").first.click()
    expect(popup.value).to_have_url(re.compile(r"/media/generations/.+\.png$"))
    steps.shot(popup.value, "full-size-image")
    popup.value.close()

    with page.expect_download() as download:
        card.get_by_role("link", name="Download PNG").first.click()
    assert re.fullmatch(r"qwen-image-\d+-1\.png", download.value.suggested_filename)

    seed = re.search(r"seed (\d+)", card.locator(".facts").inner_text())[1]
    card.get_by_role("link", name="Reuse these settings").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(
        "A lighthouse at dawn, watercolour"
    )
    expect(page.get_by_label("Seed", exact=True)).to_have_value(seed)
    expect(page.get_by_label("Lock this seed")).to_be_checked()
    steps.shot(page, "settings-reused")


def test_edit_with_an_uploaded_image(page: Page, demo_site: Site, steps: Steps):
    sign_up(page, demo_site)
    choose_model(page, "qwen-image-edit-plus:edit")  # takes several pictures
    expect(page.get_by_label("Upload images")).to_be_visible()
    steps.shot(page, "edit-model-controls")

    page.get_by_label("Upload images").set_input_files(
        [{"name": "photo.png", "mimeType": "image/png", "buffer": factories.png_bytes()}]
    )
    expect(page.get_by_alt_text("Preview of photo.png")).to_be_visible()
    # Drop a second picture and a text file on the drop zone: the picture is added, the text
    # file refused before any upload.
    dropped = page.evaluate_handle(
        """(png) => {
            const files = new DataTransfer();
            files.items.add(new File(["hello"], "notes.txt", {type: "text/plain"}));
            const bytes = Uint8Array.from(atob(png), c => c.charCodeAt(0));
            files.items.add(new File([bytes], "second.png", {type: "image/png"}));
            return files;
        }""",
        base64.b64encode(factories.png_bytes(colour=(20, 90, 200))).decode(),
    )
    page.locator("#dropzone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.locator(".dropzone-error")).to_have_text(
        "notes.txt is not a PNG, JPEG or WebP image."
    )
    expect(page.locator(".previews img")).to_have_count(2)
    steps.shot(page, "images-dropped-with-previews")

    page.get_by_label("Prompt", exact=True).fill("Make the sky a warm sunset")
    page.get_by_role("button", name="Generate").click()
    card = newest_card(page)
    expect(card.locator(".badge", has_text="edit")).to_be_visible()
    expect(card.get_by_role("img")).to_have_count(1)
    steps.shot(page, "edited-image")

    card.get_by_role("link", name="Edit this image").click()
    expect(page.get_by_label("Model")).to_have_value("qwen-image-edit-plus:edit")
    expect(page.locator("input[name=picks]:checked")).to_have_count(1)
    steps.shot(page, "edit-this-image-opens-the-editor")


def test_paint_a_mask_and_edit_only_there(page: Page, demo_site: Site, steps: Steps):
    sign_up(page, demo_site)
    choose_model(page, "qwen-image-edit:edit")
    canvas = page.get_by_role("img", name="Mask: painted where the image should change")
    expect(canvas).to_be_hidden()  # no image to paint on yet
    red = (200, 30, 30)
    page.get_by_label("Upload images").set_input_files(
        [{"name": "photo.png", "mimeType": "image/png", "buffer": factories.png_bytes(200, 150)}]
    )
    expect(canvas).to_be_visible()
    page.wait_for_function("document.querySelector('.mask-stage canvas').width === 200")

    # A stroke across the left half, at mid-height, in screen pixels of the image shown.
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    steps.shot(page, "mask-painted")

    page.get_by_label("Prompt", exact=True).fill("A round window on the left")
    page.get_by_role("button", name="Generate").click()
    card = newest_card(page)
    expect(card.locator(".status")).to_have_text("Done")
    expect(card).to_contain_text("200 × 150")  # the input's pixels, as the mask's
    steps.shot(page, "edited-only-where-painted")

    with sqlite3.connect(demo_site.data_dir / "db.sqlite3") as database:
        [params] = database.execute(
            "SELECT params FROM gateway_generation ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    media = demo_site.data_dir / "media"
    mask = Image.open(media / json.loads(params)["inputs"]["mask"])
    assert (mask.format, mask.size) == ("PNG", (200, 150))
    alpha = mask.getchannel("A")
    assert [alpha.getpixel((x, 75)) for x in (40, 60, 70)] == [0, 0, 0]  # painted
    assert [alpha.getpixel(point) for point in ((150, 75), (60, 10), (190, 140))] == [255] * 3
    made = page.request.get(demo_site.url + card.get_by_role("img").get_attribute("src"))
    result = Image.open(io.BytesIO(made.body())).convert("RGB")
    assert result.getpixel((150, 75)) == red  # kept
    assert result.getpixel((50, 75)) != red  # edited


def test_compare_two_models(page: Page, demo_site: Site, steps: Steps):
    sign_up(page, demo_site)
    follow(page, page.get_by_role("link", name="Compare models"), re.compile("/compare/$"))
    expect(page.locator(".runbar")).to_contain_text("Pick 2 to 4 models")
    page.get_by_label("Prompt", exact=True).fill("A paper boat on a puddle")
    page.get_by_role("checkbox", name=re.compile("^Qwen Image · ")).check()
    page.get_by_role("checkbox", name=re.compile("^Qwen Image 2512 · ")).check()
    expect(page.get_by_role("button", name="Compare")).to_be_enabled()
    steps.shot(page, "two-models-chosen")

    page.get_by_role("button", name="Compare").click()
    cards = page.locator(".compare-grid .card")
    expect(cards).to_have_count(2)
    for card in cards.all():
        expect(card.locator(".status")).to_have_text("Done")
        expect(card.locator(".cost")).to_have_text(re.compile(r"^\$0\.0\d+$"))
        expect(card.locator(".took")).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(cards.nth(0).locator("h3")).to_have_text("Qwen Image")
    expect(cards.nth(1).locator("h3")).to_have_text("Qwen Image 2512")
    steps.shot(page, "side-by-side")

    expect(page).to_have_url(re.compile(r"/playground/compare/\?g=[\w-]+&g=[\w-]+$"))
    page.reload()
    expect(page.locator(".compare-grid .card img")).to_have_count(2)
    steps.shot(page, "comparison-after-reload")


def test_history_filters_opens_and_deletes(page: Page, demo_site: Site, steps: Steps):
    sign_up(page, demo_site)
    for count, (value, prompt) in enumerate(
        (("qwen-image:generate", "A red bicycle"), ("qwen-image-2512:generate", "A blue teapot")),
        start=1,
    ):
        choose_model(page, value)
        page.get_by_label("Prompt", exact=True).fill(prompt)
        page.get_by_role("button", name="Generate").click()
        expect(page.locator("#results .card")).to_have_count(count)
        expect(newest_card(page).locator(".status")).to_have_text("Done")

    follow(page, page.get_by_role("link", name="All history"), re.compile("/history/$"))
    items = page.locator(".history-item")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("A blue teapot")  # newest first
    steps.shot(page, "history")

    page.get_by_label("Model").select_option("qwen-image")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("A red bicycle")
    expect(page).to_have_url(re.compile(r"model=qwen-image"))
    steps.shot(page, "filtered-by-model")
    page.get_by_label("Status").select_option("failed")
    expect(page.get_by_text("No generations match these filters")).to_be_visible()
    page.get_by_label("Model").select_option("")
    page.get_by_label("Status").select_option("succeeded")
    expect(items).to_have_count(2)

    follow(
        page,
        items.first.get_by_role("link", name="Qwen Image 2512"),
        re.compile(r"/generations/[\w-]+/$"),
    )
    details = page.locator(".facts-list")
    expect(details).to_contain_text("A blue teapot")
    expect(details).to_contain_text("Demo (local)")
    expect(details.locator("dt", has_text="Charged").locator("+ dd")).to_have_text(
        re.compile(r"^\$0\.0\d+$")
    )
    expect(details.locator("dt", has_text="Ran").locator("+ dd")).to_have_text(
        re.compile(r"^\d+\.\d s$")
    )
    steps.shot(page, "generation-details")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete this generation").click()
    expect(page).to_have_url(f"{demo_site.url}/playground/history/")
    expect(page.get_by_text("The generation and its images were deleted.")).to_be_visible()
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("A red bicycle")
    steps.shot(page, "after-delete")


def test_the_playground_fits_a_phone(open_page, demo_site: Site, steps: Steps):
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_up(page, demo_site)
    page.get_by_label("Prompt", exact=True).fill("A small robot watering plants")
    page.get_by_role("button", name="Generate").click()
    expect(newest_card(page).locator(".status")).to_have_text("Done")

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    steps.shot(page, "phone")


# With a provider that queues: the fake fal.ai queue


def start_held_job(page: Page, site: Site, fal: FalFake, prompt: str):
    """Sign up and start a qwen-image job that waits in fal's queue until the test moves it."""
    sign_up(page, site)
    fal.hold_jobs()
    fal.queue_position = 1_000
    jobs = len(fal.jobs)
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_role("button", name="Generate").click()
    fal.wait_for(lambda: len(fal.jobs) > jobs, timeout=WAIT_MS / 1000)
    card = newest_card(page)
    expect(card.locator(".queue")).to_have_text(re.compile(r"^Position \d+ in the fal queue$"))
    return list(fal.jobs.values())[-1], card


def test_live_progress_survives_reloads_and_tabs(page: Page, fal_site, fal, steps: Steps):
    site, _ = fal_site
    fal.logs = ("Loading the model", "Step 15/30", "Step 30/30")
    job, card = start_held_job(page, site, fal, "A harbour at night")
    expect(card.locator(".progress")).to_contain_text("Running")
    steps.shot(page, "waiting-in-the-provider-queue")

    page.reload()
    card = newest_card(page)
    expect(card.locator(".queue")).to_contain_text("in the fal queue")
    steps.shot(page, "still-followed-after-reload")

    second = page.context.new_page()
    second.goto(f"{site.url}/playground/")
    page.close()  # closing a tab loses nothing either
    card = newest_card(second)
    job.queue_position = job.polls  # the provider starts the job: its log lines come in
    expect(card.locator(".logs li")).to_have_count(3)
    expect(card.locator(".logs")).to_contain_text("Step 30/30")
    expect(card.locator(".elapsed")).not_to_have_text("0 s")
    steps.shot(second, "running-with-provider-logs")

    fal.release_jobs()
    expect(card.get_by_role("img")).to_have_count(1)
    expect(card.locator(".status")).to_have_text("Done")
    expect(card.locator(".badge.demo")).to_have_count(0)
    steps.shot(second, "result-in-the-second-tab")


def test_cancel_a_running_job_and_get_the_credits_back(page: Page, fal_site, fal, steps: Steps):
    site, _ = fal_site
    _, card = start_held_job(page, site, fal, "A storm over the sea")
    expect(page.locator("#balance")).not_to_contain_text("$1.00")
    held = 1_000_000 - header_balance(page)
    assert held == price_micros(page)
    steps.shot(page, "running-with-credits-held")

    cancels = len(fal.requests_to("cancel"))
    card.get_by_role("button", name="Cancel").click()
    expect(card.locator(".released")).to_have_text(
        "Cancelled. Credits released: nothing was charged."
    )
    expect(page.locator("#balance")).to_contain_text("$1.00")
    assert len(fal.requests_to("cancel")) == cancels + 1  # cancelled upstream too
    steps.shot(page, "cancelled-and-credits-back")


def test_a_failed_job_says_why_and_releases_the_credits(page: Page, fal_site, fal, steps: Steps):
    site, _ = fal_site
    sign_up(page, site)
    fal.job_error = "The image was flagged by the content filter"
    page.get_by_label("Prompt", exact=True).fill("Something the filter dislikes")
    page.get_by_role("button", name="Generate").click()

    card = newest_card(page)
    expect(card.locator(".status")).to_have_text("Failed")
    expect(card.locator(".error")).to_contain_text("flagged by the content filter")
    expect(card.locator(".released")).to_have_text("Credits released: nothing was charged.")
    expect(page.locator("#balance")).to_contain_text("$1.00")
    steps.shot(page, "failed-with-reason")
