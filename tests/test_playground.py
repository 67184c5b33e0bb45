"""The playground's pages and htmx fragments through the test client, with htmx headers."""

import re
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from playground.accounts.models import LedgerEntry
from playground.accounts.money import format_usd
from playground.catalog.cache import catalog_version_bump
from playground.catalog.services import catalog_load, catalog_read
from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
START = 1_000_000  # the starter credits, in micro-dollars
# qwen-image at 1024x1024, priced at its cheapest offering (fal: $0.02 per megapixel).
QWEN_IMAGE_1K = 20_972


@pytest.fixture
def signed_in(client, user, catalog):
    client.force_login(user)
    return client


@pytest.fixture
def queued_only(settings):
    """Jobs stay queued: nothing runs them."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def run_form(**values) -> dict:
    return {
        "model": "qwen-image:generate",
        "prompt": "a teapot in space",
        "aspect_ratio": "1:1",
        "resolution": "1K",
        "n": "1",
        "output_format": "png",
    } | values


def generate(client, **values):
    return client.post(reverse("studio:generate"), run_form(**values), headers=HTMX)


def finished_generation(user, **values) -> Generation:
    client = Client()
    client.force_login(user)
    generate(client, **values)
    return Generation.objects.filter(user=user).latest("created_at")


def png_upload(name="photo.png", **options) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, factories.png_bytes(**options), content_type="image/png")


# The page


def test_anonymous_visitors_see_the_playground_with_a_sign_up_prompt(client, catalog):
    response = client.get(reverse("studio:playground"))

    assert response.status_code == 200
    assert 'name="prompt"' in response.text
    assert "Sign up</a> for free starter credits" in response.text
    assert 'type="submit">Generate' not in response.text
    assert format_usd(QWEN_IMAGE_1K) in response.text  # the price before running


def test_the_model_picker_groups_models_by_mode_with_their_prices(client, catalog):
    text = client.get(reverse("studio:playground")).text

    generate_group, edit_group = text.split('<optgroup label="Image edit">')
    assert '<optgroup label="Text to image">' in generate_group
    assert f'value="qwen-image:generate" selected>Qwen Image · {format_usd(QWEN_IMAGE_1K)}' in text
    assert 'value="qwen-image-2512:generate"' in generate_group
    assert 'value="qwen-image-2512:edit"' in edit_group
    assert 'value="qwen-image-edit:edit"' in edit_group
    assert 'value="qwen-image-edit:generate"' not in text


def test_a_models_default_controls_follow_the_catalog(client, catalog):
    playground = reverse("studio:playground")
    first = client.get(playground).text
    again = client.get(playground).text
    with_values = client.get(playground, {"negative_prompt": "blurry"}).text
    catalog_version_bump()  # another process changed the catalog, though not these controls
    after_bump = client.get(playground).text
    data = catalog_read()
    data["parameters"]["cfg_scale"]["description"] = "Guidance, described anew."
    catalog_load(data=data)
    after_load = client.get(playground).text

    assert "What to keep out of the picture" in first
    assert _csrf_free(again) == _csrf_free(first)
    assert "blurry</textarea>" in with_values  # values of its own
    assert "blurry</textarea>" not in client.get(playground).text
    assert _csrf_free(after_bump) == _csrf_free(first)
    assert "Guidance, described anew." not in first
    assert "Guidance, described anew." in after_load


def _csrf_free(page: str) -> str:
    """The page without its CSRF tokens, which Django masks anew on every response."""
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "", page)


def test_the_catalog_link_opens_the_model_it_names(client, catalog):
    text = client.get(reverse("studio:playground"), {"model": "qwen-image-edit"}).text

    assert 'value="qwen-image-edit:edit" selected' in text
    assert 'type="file" name="images"' in text
    assert 'accept="image/png,image/jpeg,image/webp"' in text


def test_a_model_with_two_modes_opens_in_the_mode_asked_for(client, catalog):
    text = client.get(reverse("studio:playground"), {"model": "qwen-image-2512:edit"}).text

    assert 'value="qwen-image-2512:edit" selected' in text
    assert 'name="strength"' in text  # image to image only


def test_every_form_carries_a_csrf_token_and_posts_without_one_are_refused(user, catalog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    text = client.get(reverse("studio:playground")).text
    refused = client.post(reverse("studio:generate"), run_form(), headers=HTMX)

    assert text.count("<form") == text.count('name="csrfmiddlewaretoken"')
    assert refused.status_code == 403
    assert not Generation.objects.exists()


# The model's controls


def test_choosing_a_model_swaps_in_its_controls_and_keeps_what_was_typed(client, catalog):
    response = client.get(
        reverse("studio:controls"),
        {"model": "qwen-image-edit:edit", "prompt": "make it blue", "n": "3", "seed": "42"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="controls"')
    assert "<html" not in response.text
    assert "make it blue</textarea>" in response.text
    assert 'value="3" id="id_n_2" required checked' in response.text
    assert 'value="42"' in response.text
    assert 'type="file" name="images"' in response.text
    assert response.headers["HX-Push-Url"] == "/playground/?model=qwen-image-edit%3Aedit"
    assert "HX-Request" in response.headers["Vary"]


def test_controls_without_htmx_redirect_to_the_page(client, catalog):
    response = client.get(reverse("studio:controls"), {"model": "qwen-image"})

    assert response.status_code == 302
    assert response.url == "/playground/?model=qwen-image%3Agenerate"


def test_an_unknown_model_has_no_controls(client, catalog):
    response = client.get(reverse("studio:controls"), {"model": "dall-e"}, headers=HTMX)

    assert response.status_code == 404


def test_controls_come_from_the_catalog(client, catalog):
    text = client.get(
        reverse("studio:controls"), {"model": "qwen-image:generate"}, headers=HTMX
    ).text

    ratios = re.findall(r'name="aspect_ratio" value="([^"]+)"', text)
    assert ratios == ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "custom"]
    assert re.findall(r'name="resolution" value="([^"]+)"', text) == ["1K"]
    assert 'name="width"' in text and 'max="14142"' in text
    assert re.findall(r'name="n" value="(\d)"', text) == ["1", "2", "3", "4"]
    assert 'name="cfg_scale"' in text
    assert 'name="num_inference_steps"' in text
    assert 'name="strength"' not in text  # only for image to image
    assert 'type="file"' not in text
    # Provider flags, each under its provider, typed from the catalog.
    assert "fal.ai flags" in text and "Replicate flags" in text
    acceleration = r'name="acceleration"[^>]*>\s*<option value="" selected>Default \(none\)'
    assert re.search(acceleration, text)
    assert '<option value="high">high</option>' in text
    assert re.search(r'name="go_fast"[^>]*>\s*<option value="" selected>Default</option>', text)
    assert '<option value="" selected>Default (on)</option>' in text  # enable_safety_checker


def test_provider_flags_follow_the_providers_of_the_mode(client, catalog):
    text = client.get(
        reverse("studio:controls"), {"model": "qwen-image-2512:edit"}, headers=HTMX
    ).text

    assert 'name="go_fast"' in text  # Replicate sells 2512 edits
    assert 'name="acceleration"' not in text  # fal sells 2512 for text to image only


# The price


def test_the_price_follows_n_and_size(client, catalog):
    def price(**values):
        response = client.get(reverse("studio:quote"), run_form(**values), headers=HTMX)
        return re.search(r'class="cost">([^<]+)<', response.text)[1]

    assert price() == format_usd(QWEN_IMAGE_1K)
    assert price(n="3") == format_usd(3 * QWEN_IMAGE_1K)
    assert price(aspect_ratio="custom", width="512", height="512") == format_usd(5_243)
    assert price(model="qwen-image-edit-plus:edit") == "$0.03"


@pytest.mark.parametrize("model", ["qwen-image:generate", "qwen-image-edit-plus:edit"])
def test_a_models_default_run_shows_the_price_of_its_quote(signed_in, model):
    def cost(response) -> str:
        return re.search(r'class="cost">([^<]+)<', response.text)[1]

    pages = [signed_in.get(reverse("studio:playground"), {"model": model}) for _ in range(2)]
    catalog_version_bump()
    pages.append(signed_in.get(reverse("studio:playground"), {"model": model}))
    quoted = signed_in.get(reverse("studio:quote"), run_form(model=model), headers=HTMX)

    assert {cost(page) for page in pages} == {cost(quoted)}


def test_an_impossible_size_is_explained_and_cannot_run(signed_in):
    response = signed_in.get(
        reverse("studio:quote"),
        run_form(aspect_ratio="custom", width="14000", height="14000"),
        headers=HTMX,
    )

    assert "at most 16,777,216 pixels" in response.text
    assert '<button type="submit" disabled>' in response.text


def test_the_price_sits_next_to_the_balance(signed_in):
    response = signed_in.get(reverse("studio:quote"), run_form(), headers=HTMX)

    assert f'Balance <span class="balance-amount">{format_usd(START)}</span>' in response.text
    assert '<button type="submit">Generate</button>' in response.text


def test_a_short_balance_turns_the_button_into_a_top_up_link(client, catalog, settings):
    settings.STARTER_CREDITS_USD = "0.01"
    client.force_login(factories.user_with_account())

    response = client.get(reverse("studio:quote"), run_form(), headers=HTMX)

    assert 'href="/accounts/top-up/">Balance too low · Top up</a>' in response.text
    assert 'type="submit"' not in response.text


# Running a job


def test_generate_shows_a_queued_card_at_once_then_the_image(signed_in, user):
    response = generate(signed_in)

    assert response.status_code == 200
    assert "balance-changed" in response.headers["HX-Trigger"]
    generation = Generation.objects.get(user=user)
    assert f'id="gen-{generation.pk}"' in response.text
    assert "<strong>Queued</strong>" in response.text
    assert 'hx-trigger="every 1s"' in response.text
    assert '<div id="announcer" hx-swap-oob="innerHTML">Qwen Image: queued.</div>' in response.text

    card = signed_in.get(
        reverse("studio:generation-card", args=[generation.pk]), {"seen": "queued"}, headers=HTMX
    )

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    image = generation.images.get()
    assert card.headers["HX-Retarget"] == f"#gen-{generation.pk}"
    assert card.headers["HX-Reswap"] == "outerHTML"
    assert "balance-changed" in card.headers["HX-Trigger"]
    assert f'src="{image.file.url}"' in card.text
    assert "every 1s" not in card.text
    assert f'charged <strong class="cost">{format_usd(generation.cost_micros)}</strong>' in (
        card.text
    )
    assert "Qwen Image: done." in card.text
    assert f"?reuse={generation.pk}" in card.text
    assert f"?image={image.pk}" in card.text
    assert factories.balance_micros(user) == START - generation.cost_micros
    fetched = signed_in.get(image.file.url)
    assert b"".join(fetched.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_form_values_reach_the_job(signed_in, user):
    generate(
        signed_in,
        prompt="a red kite",
        negative_prompt="blurry",
        aspect_ratio="16:9",
        n="2",
        output_format="webp",
        output_compression="70",
        seed="1234",
        lock_seed="on",
        cfg_scale="4.5",
        num_inference_steps="20",
        acceleration="high",
        go_fast="true",
        enable_safety_checker="",
    )

    generation = Generation.objects.get(user=user)
    assert (generation.width, generation.height, generation.n, generation.seed) == (
        1365,
        768,
        2,
        1234,
    )
    assert generation.params["negative_prompt"] == "blurry"
    assert generation.params["output_format"] == "webp"
    assert generation.params["output_compression"] == 70
    assert generation.params["extra"] == {
        "cfg_scale": 4.5,
        "num_inference_steps": 20,
        "acceleration": "high",
        "go_fast": True,
    }
    assert [image.content_type for image in generation.images.all()] == ["image/webp"] * 2


def test_an_unlocked_seed_is_random(signed_in, user):
    generate(signed_in, seed="1234")

    generation = Generation.objects.get(user=user)
    assert generation.params["seed"] is None


def test_a_locked_seed_needs_a_value(signed_in):
    response = generate(signed_in, lock_seed="on")

    assert "Enter the seed to lock" in response.text
    assert not Generation.objects.exists()


def test_a_custom_size_is_used_as_given(signed_in, user):
    generate(signed_in, aspect_ratio="custom", width="640", height="480")

    assert Generation.objects.values_list("width", "height").get() == (640, 480)


def test_an_invalid_form_re_renders_the_controls_with_errors(signed_in):
    response = generate(signed_in, prompt="")

    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#controls"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert "This field is required" in response.text
    assert 'aria-invalid="true"' in response.text
    assert not Generation.objects.exists()


def test_without_htmx_the_form_posts_and_redirects(signed_in, user):
    response = signed_in.post(reverse("studio:generate"), run_form())

    assert response.status_code == 302
    assert Generation.objects.filter(user=user).exists()
    page = signed_in.get(response.url)
    assert "a teapot in space" in page.text


def test_short_balance_is_a_readable_message_and_nothing_is_charged(client, catalog, settings):
    settings.STARTER_CREDITS_USD = "0"
    user = factories.user_with_account()
    client.force_login(user)

    response = generate(client)

    assert "balance is too low" in response.text
    assert factories.balance_micros(user) == 0
    assert not Generation.objects.exists()


def test_anonymous_visitors_cannot_run_jobs(client, catalog):
    response = generate(client)

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert not Generation.objects.exists()


# Edits


def test_edit_with_an_uploaded_image(signed_in, user):
    response = signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", prompt="make it blue", images=[png_upload()]),
        headers=HTMX,
    )

    assert response.status_code == 200
    generation = Generation.objects.get(user=user)
    assert generation.mode == "edit"
    [stored] = generation.params["inputs"]["images"]
    assert default_storage.open(stored).read() == factories.png_bytes()
    assert generation.status == Generation.Status.SUCCEEDED


def test_uploads_are_checked_for_type_size_and_content(signed_in, settings):
    def errors(upload):
        response = signed_in.post(
            reverse("studio:generate"),
            run_form(model="qwen-image-edit:edit", images=[upload]),
            headers=HTMX,
        )
        return response.text

    settings.MAX_UPLOAD_BYTES = 10_000
    assert "notes.txt is not a PNG, JPEG or WebP image" in errors(
        SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    )
    assert "big.png is 11.7\xa0KB; the limit is 9.8\xa0KB per image" in errors(
        SimpleUploadedFile("big.png", b"x" * 12_000, content_type="image/png")
    )
    assert "the file is not a readable PNG, JPEG or WebP image" in errors(
        SimpleUploadedFile("fake.png", b"not a picture", content_type="image/png")
    )
    assert not Generation.objects.exists()


def test_an_edit_needs_an_image(signed_in):
    response = generate(signed_in, model="qwen-image-edit:edit")

    assert "Add an image to edit" in response.text
    assert not Generation.objects.exists()


def test_edit_this_image_opens_an_edit_model_with_the_result_as_input(signed_in, user):
    source = finished_generation(user).images.get()

    page = signed_in.get(reverse("studio:playground"), {"image": source.pk})

    assert 'value="qwen-image-edit:edit" selected' in page.text
    assert f'name="picks" value="{source.pk}" checked' in page.text

    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", picks=[source.pk]),
        headers=HTMX,
    )

    edit = Generation.objects.get(user=user, mode="edit")
    [stored] = edit.params["inputs"]["images"]
    assert default_storage.open(stored).read() == source.file.open("rb").read()


def test_only_your_own_results_can_be_picked(signed_in, user):
    other = finished_generation(factories.user_with_account()).images.get()

    response = signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", picks=[other.pk]),
        headers=HTMX,
    )

    assert "Select a valid choice" in response.text
    assert not Generation.objects.filter(user=user).exists()
    assert signed_in.get(reverse("studio:playground"), {"image": other.pk}).status_code == 404


def test_reuse_these_settings_fills_the_form(signed_in, user):
    generation = finished_generation(
        user, prompt="a lantern", aspect_ratio="3:4", n="2", acceleration="regular"
    )

    text = signed_in.get(reverse("studio:playground"), {"reuse": generation.pk}).text

    assert "a lantern</textarea>" in text
    assert 'value="3:4" id="id_aspect_ratio_2" required checked' in text
    assert 'value="2" id="id_n_1" required checked' in text
    assert f'value="{generation.seed}"' in text
    assert re.search(r'name="lock_seed"[^>]* checked', text)
    assert '<option value="regular" selected>' in text


def test_reusing_an_edit_offers_its_input_images(signed_in, user):
    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", images=[png_upload()]),
        headers=HTMX,
    )
    first = Generation.objects.get(user=user)

    text = signed_in.get(reverse("studio:playground"), {"reuse": first.pk}).text
    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", inputs_of=str(first.pk)),
        headers=HTMX,
    )

    assert f'name="inputs_of" value="{first.pk}"' in text
    again = Generation.objects.exclude(pk=first.pk).get(user=user)
    [stored] = again.params["inputs"]["images"]
    assert default_storage.open(stored).read() == factories.png_bytes()


# Following and cancelling a job


def test_a_queued_card_keeps_polling_and_announces_only_changes(signed_in, user, queued_only):
    generate(signed_in)
    generation = Generation.objects.get(user=user)
    url = reverse("studio:generation-card", args=[generation.pk])

    same = signed_in.get(url, {"seen": "queued"}, headers=HTMX)
    changed = signed_in.get(url, {"seen": "running"}, headers=HTMX)

    assert same.text.lstrip().startswith('<div class="progress"')
    assert 'hx-trigger="every 1s"' in same.text
    assert "<strong>Queued</strong>" in same.text
    assert "announcer" not in same.text
    assert "HX-Retarget" not in same.headers
    assert "Qwen Image: queued." in changed.text


def test_a_running_card_shows_the_providers_queue_position_and_logs(signed_in, user, queued_only):
    generate(signed_in)
    generation = Generation.objects.get(user=user)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=7),
        progress={"status": "queued", "queue_position": 3, "logs": [], "provider": "fal"},
    )
    url = reverse("studio:generation-card", args=[generation.pk])

    queued = signed_in.get(url, {"seen": "running"}, headers=HTMX)
    Generation.objects.filter(pk=generation.pk).update(
        progress={"status": "running", "queue_position": None, "logs": ["step 1", "step 2"]}
    )
    running = signed_in.get(url, {"seen": "running"}, headers=HTMX)

    assert "<strong>Running</strong>" in queued.text
    assert '<span class="elapsed">7 s</span>' in queued.text
    assert "Position 3 in the fal queue" in queued.text
    assert "<li>step 1</li><li>step 2</li>" in running.text


def test_a_failed_card_gives_the_reason_and_says_the_credits_were_released(signed_in, user):
    generate(signed_in)
    generation = Generation.objects.get(user=user)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.FAILED, error_message="The provider rejected the request."
    )

    card = signed_in.get(reverse("studio:generation-card", args=[generation.pk]), headers=HTMX)

    assert "The provider rejected the request." in card.text
    assert "Credits released: nothing was charged." in card.text


def test_an_ended_card_is_rendered_once_then_reused(signed_in, user):
    generation = finished_generation(user, prompt="kept as rendered")

    first = signed_in.get(reverse("studio:playground"))
    Generation.objects.filter(pk=generation.pk).update(prompt="changed behind its back")
    again = signed_in.get(reverse("studio:playground"))
    detail = signed_in.get(reverse("studio:generation", args=[generation.pk]))

    assert "kept as rendered" in first.text
    assert "kept as rendered" in again.text  # a stand-in for an ended job: nothing changes it
    assert "changed behind its back" in detail.text  # its own page shows a card without links
    assert reverse("studio:generation", args=[generation.pk]) not in _article(detail.text)


def test_a_card_is_not_kept_while_its_job_runs(signed_in, user, queued_only):
    generate(signed_in)
    generation = Generation.objects.get(user=user)

    queued = signed_in.get(reverse("studio:playground"))
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.FAILED,
        error_message="The provider rejected the request.",
        finished_at=timezone.now(),
    )
    ended = signed_in.get(reverse("studio:playground"))
    Generation.objects.filter(pk=generation.pk).update(error_message="Changed behind its back.")
    again = signed_in.get(reverse("studio:playground"))

    assert "<strong>Queued</strong>" in _article(queued.text)
    assert "The provider rejected the request." in _article(ended.text)
    assert _article(again.text) == _article(ended.text)  # ended: kept from now on


def test_kept_cards_are_not_read_again_with_their_model_and_images(signed_in, user):
    for index in range(3):
        finished_generation(user, prompt=f"kept {index}")
    signed_in.get(reverse("studio:playground"))

    with CaptureQueriesContext(connection) as queries:
        page = signed_in.get(reverse("studio:playground"))

    assert all(f"kept {index}" in page.text for index in range(3))
    read = " ".join(query["sql"] for query in queries)
    assert "gateway_generationimage" not in read
    assert "catalog_imagemodel" not in read


def test_a_kept_card_follows_a_change_of_the_catalog(signed_in, user):
    finished_generation(user)
    before = signed_in.get(reverse("studio:playground"))
    data = catalog_read()
    data["models"][0]["name"] = "Qwen Image, renamed"
    catalog_load(data=data)
    after = signed_in.get(reverse("studio:playground"))

    assert "<h3" in _article(before.text) and "Qwen Image<" in _article(before.text)
    assert "Qwen Image, renamed<" in _article(after.text)


def _article(page: str) -> str:
    return page[page.index("<article") : page.index("</article>")]


def test_cancelling_a_queued_job_releases_the_credits_at_once(signed_in, user, queued_only):
    generate(signed_in)
    generation = Generation.objects.get(user=user)
    assert factories.balance_micros(user) == START - generation.hold_micros

    response = signed_in.post(
        reverse("studio:generation-cancel", args=[generation.pk]), headers=HTMX
    )

    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert "Cancelled. Credits released" in response.text
    assert "balance-changed" in response.headers["HX-Trigger"]
    assert factories.balance_micros(user) == START
    assert factories.ledger_sum_micros(user) == START


def test_cancelling_a_running_job_waits_for_its_worker(signed_in, user, queued_only):
    generate(signed_in)
    generation = Generation.objects.get(user=user)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING, started_at=timezone.now()
    )

    response = signed_in.post(
        reverse("studio:generation-cancel", args=[generation.pk]), headers=HTMX
    )

    assert "<strong>Cancelling</strong>" in response.text
    assert "Stopping the job at the provider" in response.text
    assert 'hx-trigger="every 1s"' in response.text
    assert ">Cancel</button>" not in response.text
    assert factories.balance_micros(user) == START - generation.hold_micros


def test_without_htmx_cancel_redirects_to_the_job(signed_in, user, queued_only):
    generate(signed_in)
    generation = Generation.objects.get(user=user)

    response = signed_in.post(reverse("studio:generation-cancel", args=[generation.pk]))

    assert response.url == reverse("studio:generation", args=[generation.pk])


def test_users_cannot_see_or_touch_each_others_jobs(signed_in, user):
    generation = finished_generation(factories.user_with_account())
    image = generation.images.get()

    for response in (
        signed_in.get(reverse("studio:generation-card", args=[generation.pk]), headers=HTMX),
        signed_in.get(reverse("studio:generation", args=[generation.pk])),
        signed_in.post(reverse("studio:generation-cancel", args=[generation.pk])),
        signed_in.post(reverse("studio:generation-delete", args=[generation.pk])),
        signed_in.get(reverse("studio:image-download", args=[image.pk])),
        signed_in.get(reverse("studio:playground"), {"reuse": generation.pk}),
    ):
        assert response.status_code == 404


def test_download_gives_the_file_in_the_chosen_format(signed_in, user):
    generation = finished_generation(user, output_format="jpeg", seed="77", lock_seed="on")
    image = generation.images.get()

    response = signed_in.get(reverse("studio:image-download", args=[image.pk]))

    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == 'attachment; filename="qwen-image-77-1.jpeg"'
    assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"


# History


def test_history_lists_your_generations_newest_first(signed_in, user):
    first = finished_generation(user, prompt="first prompt")
    second = finished_generation(user, model="qwen-image-2512:generate", prompt="second prompt")
    finished_generation(factories.user_with_account(), prompt="someone else's")

    text = signed_in.get(reverse("studio:history")).text

    assert text.index("second prompt") < text.index("first prompt")
    assert "someone else" not in text
    assert reverse("studio:generation", args=[first.pk]) in text
    assert reverse("studio:generation", args=[second.pk]) in text


def test_history_filters_by_model_and_status(signed_in, user, settings):
    finished_generation(user, prompt="kept one")
    finished_generation(user, model="qwen-image-2512:generate", prompt="other model")
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    finished_generation(user, prompt="still queued")

    by_model = signed_in.get(reverse("studio:history"), {"model": "qwen-image"}, headers=HTMX).text
    by_status = signed_in.get(reverse("studio:history"), {"status": "queued"}).text

    assert by_model.lstrip().startswith('<div id="history-list">')
    assert "kept one" in by_model and "still queued" in by_model
    assert "other model" not in by_model
    assert "still queued" in by_status
    assert "kept one" not in by_status and "other model" not in by_status


def test_history_is_paginated(signed_in, user, queued_only):
    for number in range(21):
        generate(signed_in, prompt=f"prompt number {number}")

    first = signed_in.get(reverse("studio:history")).text
    second = signed_in.get(reverse("studio:history"), {"page": "2"}).text

    assert "Page 1 of 2" in first
    assert "prompt number 20" in first and "prompt number 0<" not in first
    assert "prompt number 0<" in second
    assert 'href="?page=2"' in first


def test_history_needs_an_account(client, catalog):
    response = client.get(reverse("studio:history"))

    assert response.status_code == 302


def test_a_generation_page_shows_parameters_cost_provider_timings_and_images(signed_in, user):
    generation = finished_generation(user, negative_prompt="fog", cfg_scale="6")

    text = signed_in.get(reverse("studio:generation", args=[generation.pk])).text

    assert "a teapot in space" in text
    assert "<dt>Negative prompt</dt><dd>fog</dd>" in text
    assert "<dt>Cfg scale</dt><dd>6.0</dd>" in text
    assert "<dt>Provider</dt><dd>Demo (local)</dd>" in text
    assert f"<dt>Charged</dt><dd><strong>{format_usd(generation.cost_micros)}" in text
    assert re.search(r"<dt>Ran</dt><dd>\d+\.\d s</dd>", text)
    assert generation.images.get().file.url in text


def test_delete_removes_the_job_from_history_with_its_files(
    signed_in, user, django_capture_on_commit_callbacks
):
    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", images=[png_upload()]),
        headers=HTMX,
    )
    generation = Generation.objects.get(user=user)
    files = [
        generation.images.get().file.name,
        *generation.params["inputs"]["images"],
    ]

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            reverse("studio:generation-delete", args=[generation.pk]), headers=HTMX
        )

    assert response.headers["HX-Redirect"] == reverse("studio:history")
    assert not any(default_storage.exists(name) for name in files)
    assert "make it" not in signed_in.get(reverse("studio:history")).text
    assert signed_in.get(reverse("studio:generation", args=[generation.pk])).status_code == 404
    # The ledger keeps its record of the charge.
    assert LedgerEntry.objects.filter(generation=generation, kind="capture").exists()
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)


def test_a_running_job_cannot_be_deleted(signed_in, user, queued_only):
    generate(signed_in)
    generation = Generation.objects.get(user=user)

    response = signed_in.post(reverse("studio:generation-delete", args=[generation.pk]))

    assert response.url == reverse("studio:generation", args=[generation.pk])
    page = signed_in.get(response.url)
    assert "cancel it before deleting it" in page.text


# Compare


def compare_form(**values) -> dict:
    return {
        "prompt": "a paper boat",
        "models": ["qwen-image:generate", "qwen-image-2512:generate"],
        "aspect_ratio": "1:1",
        "resolution": "1K",
    } | values


def test_compare_runs_one_prompt_on_several_models(signed_in, user):
    response = signed_in.post(reverse("studio:compare"), compare_form(), headers=HTMX)

    generations = list(Generation.objects.filter(user=user).order_by("created_at"))
    assert [g.model.slug for g in generations] == ["qwen-image", "qwen-image-2512"]
    assert {g.prompt for g in generations} == {"a paper boat"}
    assert len({g.seed for g in generations}) == 1  # the same seed, for a fair comparison
    assert 'class="compare-grid cols-2"' in response.text
    assert all(f'id="gen-{g.pk}"' in response.text for g in generations)
    assert response.headers["HX-Push-Url"] == (
        f"/playground/compare/?g={generations[0].pk}&g={generations[1].pk}"
    )
    assert "balance-changed" in response.headers["HX-Trigger"]

    again = signed_in.get(response.headers["HX-Push-Url"]).text

    for generation in generations:
        generation.refresh_from_db()
        assert f'charged <strong class="cost">{format_usd(generation.cost_micros)}' in again
    assert again.count('class="took"') == 2


def test_compare_needs_two_to_four_models(signed_in):
    response = signed_in.post(
        reverse("studio:compare"), compare_form(models=["qwen-image:generate"]), headers=HTMX
    )

    assert response.headers["HX-Retarget"] == "#compare-form"
    assert "Pick 2 to 4 models to compare." in response.text
    assert not Generation.objects.exists()


def test_compare_prices_all_models_together(client, catalog):
    response = client.get(reverse("studio:compare-quote"), compare_form(), headers=HTMX)

    # qwen-image and qwen-image-2512 both start at fal's $0.02 per megapixel.
    assert f'class="cost">{format_usd(2 * QWEN_IMAGE_1K)}<' in response.text


def test_the_compare_page_asks_for_models_first(client, catalog):
    text = client.get(reverse("studio:compare")).text

    assert 'name="models" value="qwen-image:generate"' in text
    assert 'name="models" value="qwen-image-edit:edit"' not in text
    assert "Pick 2 to 4 models to compare." in text


def test_anonymous_visitors_cannot_compare(client, catalog, user):
    shared = finished_generation(user)

    response = client.post(reverse("studio:compare"), compare_form())
    page = client.get(reverse("studio:compare"), {"g": [shared.pk]})

    assert response.status_code == 302
    assert Generation.objects.get() == shared
    assert page.status_code == 200
    assert f'id="gen-{shared.pk}"' not in page.text


def test_an_empty_catalog_is_said_plainly(client, db):
    playground = client.get(reverse("studio:playground"))
    compare = client.get(reverse("studio:compare"))

    assert "No model is available right now" in playground.text
    assert compare.status_code == 200


@pytest.mark.parametrize("who", ["visitor", "member"])
def test_the_playground_reads_as_much_for_one_model_as_for_many(
    client, user, catalog, django_assert_num_queries, who
):
    """Every option of the picker is priced from the models loaded once, not one quote each."""
    if who == "member":
        client.force_login(user)
    with CaptureQueriesContext(connection) as first:
        assert client.get(reverse("studio:playground")).status_code == 200

    data = catalog_read()
    extras = [
        data["models"][0] | {"id": f"qwen-image-copy-{index}", "name": f"Copy {index}"}
        for index in range(3)
    ]
    catalog_load(data=data | {"models": [*data["models"], *extras]})
    with django_assert_num_queries(len(first)):
        page = client.get(reverse("studio:playground"))
    assert "Copy 2" in page.content.decode()
