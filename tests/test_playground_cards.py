"""Following a job through its card: polling, progress, kept cards, cancelling, access, download."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from playground.catalog.services import catalog_load, catalog_read
from playground.gateway.models import Generation
from tests import factories
from tests.factories import (
    HTMX,
    START,
    finished_generation,
    generate,
)

pytestmark = pytest.mark.django_db


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
