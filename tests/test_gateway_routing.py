"""The gateway in front of real provider protocols (fake servers on loopback): translation on
the wire, failover, retries, the circuit breaker, refunds and cancellation."""

import asyncio
import threading

import httpx
import openai
import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from playground.accounts.models import LedgerEntry
from playground.gateway.models import Generation
from playground.gateway.runner import Start, generation_run
from playground.gateway.schemas import GenerationRequest
from playground.gateway.services import (
    DEAD_AFTER,
    generation_cancel,
    generation_submit,
    generation_sweep_stale,
)
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, api_key):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)


def last_generation() -> Generation:
    return Generation.objects.latest("created_at")


def test_parameters_are_translated_on_the_wire_and_unknown_ones_pass_through(client, fal):
    response = client.images.generate(
        model="qwen-image",
        prompt="a harbour",
        size="800x600",
        extra_body={
            "cfg_scale": 4.5,
            "num_inference_steps": 20,
            "negative_prompt": "fog",
            "seed": 11,
            "acceleration": "high",  # fal's own flag
            "go_fast": True,  # Replicate's flag: not for fal
            "loras": [{"path": "style.safetensors", "scale": 0.5}],  # unknown here: passed through
        },
    )

    body = fal.requests_to("submit")[-1].json
    assert body["image_size"] == {"width": 800, "height": 600}
    assert body["guidance_scale"] == 4.5
    assert body["num_inference_steps"] == 20
    assert body["negative_prompt"] == "fog"
    assert body["seed"] == 11
    assert body["acceleration"] == "high"
    assert body["loras"] == [{"path": "style.safetensors", "scale": 0.5}]
    assert "go_fast" not in body and "cfg_scale" not in body
    fetched = httpx.get(response.data[0].url)
    assert fetched.status_code == 200
    assert last_generation().provider == "fal"


def test_edit_sends_the_uploads_as_data_uris(client, fal):
    client.images.edit(
        model="qwen-image-edit-2509",
        image=[
            ("a.png", factories.png_bytes(), "image/png"),
            ("b.png", factories.png_bytes(colour=(0, 0, 255)), "image/png"),
        ],
        prompt="swap the colours",
    )

    urls = fal.requests_to("submit")[-1].json["image_urls"]
    assert len(urls) == 2
    assert all(url.startswith("data:image/png;base64,") for url in urls)


def test_fails_over_to_the_next_provider_and_charges_what_it_costs(client, fal, replicate, user):
    fal.fail_next(500, times=10, on="submit")

    raw = client.images.with_raw_response.generate(model="qwen-image", prompt="x")

    generation = Generation.objects.get(pk=raw.headers["x-generation-id"])
    assert [a["provider"] for a in generation.attempts] == ["fal", "replicate"]
    assert [a["status"] for a in generation.attempts] == [500, 200]
    assert generation.provider == "replicate"
    assert generation.cost_micros == 25_000  # Replicate's price, not the hold
    assert generation.hold_micros > generation.cost_micros or generation.hold_micros == 25_000
    assert factories.balance_micros(user) == 1_000_000 - 25_000 == factories.ledger_sum_micros(user)
    assert len(fal.requests_to("submit")) == 2  # one retry on fal before failing over


def test_every_provider_failing_is_a_502_and_a_full_refund(client, fal, replicate, user):
    fal.fail_next(503, times=10, on="submit")
    replicate.fail_next(500, times=10, on="create")

    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="qwen-image", prompt="x")

    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "provider_failed"
    generation = last_generation()
    assert generation.status == Generation.Status.FAILED
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)
    kinds = sorted(generation.ledger_entries.values_list("kind", flat=True))
    assert kinds == [LedgerEntry.Kind.HOLD, LedgerEntry.Kind.RELEASE]


def test_a_429_is_retried_after_the_time_the_provider_asks(client, fal):
    fal.fail_next(429, times=1, on="submit", retry_after="1")

    client.images.generate(model="qwen-image", prompt="x")

    submits = fal.requests_to("submit")
    assert len(submits) == 2
    generation = last_generation()
    assert generation.provider == "fal"
    assert generation.attempts[0]["latency_ms"] >= 1000


def test_a_corrupt_result_image_fails_over(client, fal, replicate):
    fal.malformed_next(on="file")

    client.images.generate(model="qwen-image", prompt="x")

    assert last_generation().provider == "replicate"


def test_a_provider_that_keeps_failing_is_skipped_then_probed(client, fal, replicate, settings):
    settings.PROVIDER_ATTEMPTS = 1
    fal.fail_next(500, times=5, on="submit")
    for _ in range(5):
        client.images.generate(model="qwen-image", prompt="x")
    assert len(fal.requests_to("submit")) == 5

    client.images.generate(model="qwen-image", prompt="x")

    assert len(fal.requests_to("submit")) == 5  # the circuit is open: fal was not asked
    assert last_generation().attempts[0]["provider"] == "replicate"


def test_a_caller_that_goes_away_cancels_the_upstream_job_and_pays_nothing(
    asgi_server, api_key, user, fal
):
    fal.hold_jobs()

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{asgi_server}/v1/images/generations",
            json={"model": "qwen-image", "prompt": "never mind"},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(5, read=1),
        )

    fal.wait_for(lambda: fal.requests_to("cancel"), timeout=10)
    generation = factories.wait_until_finished(last_generation())
    assert generation.status == Generation.Status.CANCELLED
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_a_user_cancel_of_a_running_job_reaches_the_provider(user, catalog, fal, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    fal.hold_jobs()
    fal.queue_position = 3
    generation, _ = async_to_sync(generation_submit)(
        user=user,
        request=GenerationRequest(mode="generate", model="qwen-image", prompt="slow"),
        source=Generation.Source.PLAYGROUND,
        base_url="http://testserver/",
    )
    worker = threading.Thread(
        target=lambda: asyncio.run(generation_run(generation.pk, start=Start.QUEUED))
    )
    worker.start()
    fal.wait_for(lambda: len(fal.requests_to("status")) >= 2)
    running = Generation.objects.get(pk=generation.pk)

    assert generation_cancel(generation=generation)
    worker.join(timeout=10)

    assert running.status == Generation.Status.RUNNING
    assert running.progress["provider"] == "fal"
    assert running.progress["queue_position"] in (1, 2, 3)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert fal.requests_to("cancel")
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_a_cancelled_job_is_cancelling_until_a_worker_ends_it(user, catalog):
    """Cancelling a running job does not end it: it holds its credits until a worker has
    stopped it, here the sweep's, as its own worker died."""
    generation, _ = async_to_sync(generation_submit)(
        user=user,
        request=GenerationRequest(mode="generate", model="qwen-image", prompt="orphaned"),
        source=Generation.Source.API,
        base_url="http://testserver/",
        start=True,
    )
    held = factories.balance_micros(user)

    assert generation_cancel(generation=generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLING
    assert not generation.is_finished and generation.finished_at is None
    assert factories.balance_micros(user) == held < 1_000_000

    Generation.objects.filter(pk=generation.pk).update(heartbeat_at=timezone.now() - DEAD_AFTER * 2)
    resumed, _ = generation_sweep_stale()

    generation.refresh_from_db()
    assert resumed == [generation.pk]
    assert generation.status == Generation.Status.CANCELLED and generation.is_finished
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_an_openai_compatible_upstream_serves_every_model_under_its_id(
    client, openai_fake, provider_env
):
    provider_env(openai_fake)

    response = client.images.edit(
        model="qwen-image-edit-plus",
        image=[("a.png", factories.png_bytes(), "image/png")],
        prompt="brighter",
    )

    edit = openai_fake.requests_to("edits")[-1]
    assert edit.parts("model")[0].text == "qwen-image-edit-plus"
    assert httpx.get(response.data[0].url).status_code == 200
    generation = last_generation()
    assert generation.provider == "openai"
    assert generation.cost_micros == 30_000  # the model's cheapest listed price
