"""`"stream": true`: the images as OpenAI streams them, through the official SDK and on the wire."""

import base64
import io
import json

import httpx
import openai
import pytest
from django.urls import reverse
from PIL import Image

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(asgi_server, api_key):
    return openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_key, max_retries=0)


def picture(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def sse(text: str) -> list[tuple[str, dict]]:
    """The events of a stream's body: (event, data), comments left out."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = [line for line in block.split("\n") if not line.startswith(":")]
        if lines:
            fields = dict(line.split(": ", 1) for line in lines)
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_a_stream_sends_the_partial_images_asked_for_then_the_image(client, user):
    before = factories.balance_micros(user)

    events = list(
        client.images.generate(
            model="qwen-image",
            prompt="a paper boat on a pond",
            size="512x384",
            stream=True,
            partial_images=2,
        )
    )

    assert [event.type for event in events] == factories.event_types("image_generation", partials=2)
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    for event in events:
        assert picture(event.b64_json).size == (512, 384)
        assert (event.size, event.output_format, event.background) == ("512x384", "png", "opaque")
        assert event.created_at > 0
    generation = Generation.objects.get()
    assert generation.status == Generation.Status.SUCCEEDED
    assert base64.b64decode(events[-1].b64_json) == generation.images.get().file.read()
    assert factories.balance_micros(user) == before - generation.cost_micros


def test_a_provider_that_gives_fewer_previews_sends_fewer(client):
    events = list(
        client.images.generate(model="qwen-image", prompt="a fox", stream=True, partial_images=3)
    )

    # The demo shows two stages of its drawing; OpenAI too may send fewer than asked.
    assert [event.type for event in events].count("image_generation.partial_image") == 2
    assert events[-1].type == "image_generation.completed"


def test_an_upstream_that_streams_passes_its_partial_images_on(client, openai_fake, provider_env):
    provider_env(openai_fake)

    events = list(
        client.images.generate(
            model="qwen-image", prompt="a fox", size="320x240", stream=True, partial_images=2
        )
    )

    assert [event.type for event in events] == factories.event_types("image_generation", partials=2)
    assert openai_fake.requests_to("generations")[-1].json["partial_images"] == 2
    assert {picture(event.b64_json).size for event in events} == {(320, 240)}


def test_without_partial_images_only_the_images_come_one_event_each(client):
    events = list(
        client.images.generate(
            model="qwen-image", prompt="two foxes", n=2, stream=True, output_format="webp"
        )
    )

    assert [event.type for event in events] == ["image_generation.completed"] * 2
    assert {picture(event.b64_json).format for event in events} == {"WEBP"}
    assert len({event.b64_json for event in events}) == 2


def test_an_edit_streams_image_edit_events(client, tmp_path):
    source = tmp_path / "source.png"
    source.write_bytes(factories.png_bytes(300, 200))

    with source.open("rb") as image:
        events = list(
            client.images.edit(
                model="qwen-image-edit",
                image=image,
                prompt="add a moon",
                stream=True,
                partial_images=1,
            )
        )

    assert [event.type for event in events] == factories.event_types("image_edit", partials=1)
    assert Generation.objects.get().mode == "edit"


def test_the_wire_is_server_sent_events_with_the_generation_id(asgi_server, api_key):
    response = httpx.post(
        f"{asgi_server}/v1/images/generations",
        json={"prompt": "a kite", "size": "256x256", "stream": True, "partial_images": 1},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-generation-id"] == str(Generation.objects.get().pk)
    events = sse(response.text)
    assert [name for name, _ in events] == [data["type"] for _, data in events]
    assert set(events[-1][1]) == {
        "type",
        "b64_json",
        "created_at",
        "size",
        "output_format",
        "background",
    }


def test_a_refusal_before_the_stream_starts_is_an_ordinary_error(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="qwen-image", prompt="x", size="7x7", stream=True)

    assert refused.value.status_code == 400
    assert refused.value.param == "size"


def test_stream_and_respond_async_are_refused_together(asgi_server, api_key):
    response = httpx.post(
        f"{asgi_server}/v1/images/generations",
        json={"prompt": "a kite", "stream": True},
        headers={"Authorization": f"Bearer {api_key}", "Prefer": "respond-async"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "stream"


@pytest.fixture
def fal_only(fal, settings):
    settings.STREAM_KEEPALIVE_SECONDS = 0.05
    return fal


def streaming(asgi_server: str, api_key: str):
    """A streamed generation on the wire, to read as it comes."""
    return httpx.stream(
        "POST",
        f"{asgi_server}/v1/images/generations",
        json={"model": "qwen-image", "prompt": "slow", "stream": True},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )


def test_a_long_job_keeps_the_connection_alive_then_completes(asgi_server, api_key, fal_only):
    fal_only.hold_jobs()
    comments = []
    with streaming(asgi_server, api_key) as response:
        lines = response.iter_lines()
        for line in lines:
            if line.startswith(":"):
                comments.append(line)
                if len(comments) == 3:
                    fal_only.release_jobs()
            elif line.startswith("event:"):
                assert line == "event: image_generation.completed"
                break

    assert comments[:3] == [": keep-alive"] * 3
    assert Generation.objects.get().status == Generation.Status.SUCCEEDED


def test_the_sdk_reads_a_stream_with_keep_alive_lines(client, fal_only):
    fal_only.delay = 0.5  # about ten keep-alive lines at 0.05 s

    events = list(client.images.generate(model="qwen-image", prompt="slow", stream=True))

    assert [event.type for event in events] == ["image_generation.completed"]


def test_a_caller_that_leaves_mid_stream_cancels_the_job_and_pays_nothing(
    asgi_server, api_key, user, fal_only
):
    fal_only.hold_jobs()
    with streaming(asgi_server, api_key) as response:
        lines = response.iter_lines()  # kept: a dropped iterator would close the connection
        assert next(lines) == ": keep-alive"
        fal_only.wait_for(lambda: fal_only.requests_to("status"))  # the job is under way
    # Leaving the block closed the connection before any image came.

    fal_only.wait_for(lambda: fal_only.requests_to("cancel"), timeout=10)
    generation = factories.wait_until_finished(Generation.objects.get())
    assert generation.status == Generation.Status.CANCELLED
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_a_caller_that_leaves_while_the_job_is_being_submitted_still_stops_it_upstream(
    asgi_server, api_key, user, fal_only
):
    fal_only.hang_next(on="submit")
    with streaming(asgi_server, api_key) as response:
        lines = response.iter_lines()
        assert next(lines) == ": keep-alive"
        fal_only.wait_for(lambda: fal_only.requests_to("submit"))  # the provider is being asked
    fal_only.release()  # ... and takes the job after the caller left

    fal_only.wait_for(lambda: fal_only.requests_to("cancel"), timeout=10)
    generation = factories.wait_until_finished(Generation.objects.get())
    assert generation.status == Generation.Status.CANCELLED
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_a_stream_its_user_cancels_ends_with_a_cancelled_error_event(
    asgi_server, api_key, user, fal_only
):
    fal_only.hold_jobs()
    with streaming(asgi_server, api_key) as response:
        lines = response.iter_lines()
        assert next(lines) == ": keep-alive"
        fal_only.wait_for(lambda: fal_only.requests_to("status"))
        generation = Generation.objects.get()
        factories.signed_in_client(user).post(
            reverse("studio:generation-cancel", args=[generation.pk]), headers=factories.HTMX
        )
        events = sse("\n".join(lines))

    assert response.headers["X-Generation-Id"] == str(generation.pk)
    assert [kind for kind, _ in events] == ["error"]
    assert events[0][1]["error"]["code"] == "generation_cancelled"
    assert Generation.objects.get().status == Generation.Status.CANCELLED
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_a_failure_after_the_stream_began_is_an_error_event(client, fal_only, user):
    fal_only.job_error = "the GPU caught fire"

    with pytest.raises(openai.APIError) as failed:
        list(client.images.generate(model="qwen-image", prompt="x", stream=True))

    assert failed.value.code == "provider_rejected"
    assert "the GPU caught fire" in failed.value.message
    assert factories.balance_micros(user) == 1_000_000


def test_a_repeated_idempotency_key_streams_the_first_generations_images(client, user):
    def streamed():
        return list(
            client.images.generate(
                model="qwen-image",
                prompt="once",
                stream=True,
                extra_headers={"Idempotency-Key": "stream-once"},
            )
        )

    first, repeat = streamed(), streamed()

    assert [event.type for event in repeat] == ["image_generation.completed"]
    assert repeat[0].b64_json == first[-1].b64_json
    generation = Generation.objects.get()
    assert factories.balance_micros(user) == 1_000_000 - generation.cost_micros
