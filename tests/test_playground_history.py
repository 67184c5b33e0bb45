"""The history of a user's generations: the list, its filters, a generation's page, deleting."""

import re

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from playground.accounts.models import LedgerEntry
from playground.accounts.templatetags.money import usd
from playground.gateway.models import Generation
from tests import factories
from tests.factories import (
    HTMX,
    finished_generation,
    generate,
    png_upload,
    run_form,
)

pytestmark = pytest.mark.django_db


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
    assert f"<dt>Charged</dt><dd><strong>{usd(generation.cost_micros)}" in text
    assert re.search(r"<dt>Ran</dt><dd>\d+\.\d s</dd>", text)
    assert generation.images.get().file.url in text


def test_a_generation_page_lists_what_the_provider_mapped(signed_in, user):
    generation = finished_generation(user)
    mapped = [
        {
            "param": "size",
            "asked": "1024x1024",
            "served": "1:1 made at 1328x1328, resized to 1024x1024",
        },
        {"param": "acceleration", "asked": "high", "served": "not taken here: not sent"},
    ]
    Generation.objects.filter(pk=generation.pk).update(mapped=mapped)

    for page in ("studio:generation", "accounts:generation"):
        text = signed_in.get(reverse(page, args=[generation.pk])).text

        assert "<dt>Size</dt><dd>1024 × 1024" in text
        assert (
            "<dt>Mapped</dt><dd>size: asked 1024x1024, served 1:1 made at 1328x1328, "
            "resized to 1024x1024</dd>"
        ) in text
        assert (
            "<dt>Mapped</dt><dd>acceleration: asked high, served not taken here: not sent</dd>"
        ) in text


def test_a_run_served_mapped_shows_the_pixels_handed_back_and_why(signed_in, user):
    """qwen-image-2512 edits go to Replicate only, whose image-to-image results keep the input's
    shape whatever size is asked: a 1000x1000 request of a 64x48 picture comes back 4:3."""
    signed_in.post(
        reverse("studio:generate"),
        run_form(
            model="qwen-image-2512:edit",
            aspect_ratio="custom",
            width="1000",
            height="1000",
            images=[png_upload(width=64, height=48)],
        ),
        headers=HTMX,
    )
    generation = Generation.objects.get(user=user)

    text = signed_in.get(reverse("studio:generation", args=[generation.pk])).text

    assert generation.status == Generation.Status.SUCCEEDED
    width, height = generation.width, generation.height
    assert abs(width / height - 4 / 3) < 0.01
    assert (generation.images.get().width, generation.images.get().height) == (width, height)
    assert f"<dt>Size</dt><dd>{width} × {height}</dd>" in text
    assert (
        "<dt>Mapped</dt><dd>size: asked 1000x1000, served the input image&#x27;s shape</dd>"
    ) in text


def test_a_run_served_as_asked_lists_nothing_mapped(signed_in, user):
    generation = finished_generation(user)

    text = signed_in.get(reverse("studio:generation", args=[generation.pk])).text

    assert generation.mapped == []
    assert "<dt>Mapped</dt>" not in text


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
