"""Running a job from the playground's form: its card at once, the values that reach the job,
seeds, the balance."""

import pytest
from django.urls import reverse

from playground.accounts.templatetags.money import usd
from playground.gateway.models import Generation
from tests import factories
from tests.factories import (
    HTMX,
    START,
    generate,
    run_form,
)

pytestmark = pytest.mark.django_db


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
    assert f'charged <strong class="cost">{usd(generation.cost_micros)}</strong>' in (card.text)
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
    assert response.url.startswith(reverse("account_login"))
    assert not Generation.objects.exists()


def test_a_value_beyond_every_offering_is_a_form_error_with_the_models_range(signed_in, user):
    response = generate(signed_in, num_inference_steps="300")

    assert "Ensure this value is less than or equal to 250." in response.text
    assert not Generation.objects.exists()
    assert factories.balance_micros(user) == START


def test_a_choice_no_offering_takes_is_a_form_error(signed_in, user):
    response = signed_in.post(
        reverse("studio:generate"),
        run_form(
            model="qwen-image-edit-2509:edit",
            prompt="x",
            acceleration="high",
            images=factories.png_upload(),
        ),
        headers=HTMX,
    )

    assert "Select a valid choice. high is not one of the available choices." in response.text
    assert not Generation.objects.exists()
