"""Everything the image API promises, through the official OpenAI Python SDK on a live server."""

import base64
import io
import json
import re

import httpx
import openai
import pytest
from django.urls import reverse
from PIL import Image, ImageStat

from playground.accounts.models import LedgerEntry
from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, api_key):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)


def decoded(item) -> Image.Image:
    raw = base64.b64decode(item.b64_json) if item.b64_json else httpx.get(item.url).content
    return Image.open(io.BytesIO(raw))


@pytest.mark.parametrize(
    ("kwargs", "size"),
    [
        ({"size": "800x600"}, (800, 600)),
        ({"size": "16:9"}, (1365, 768)),
        ({"extra_body": {"aspect_ratio": "3:4", "resolution": "1K"}}, (887, 1182)),
        ({"extra_body": {"aspect_ratio": "7:3"}}, (1365, 768)),
        ({"size": "640x640", "extra_body": {"aspect_ratio": "16:9"}}, (640, 640)),
        ({}, (1024, 1024)),
    ],
)
def test_each_size_form(client, kwargs, size):
    # In demo mode the demo makes what the best route would: fal, which takes exact pixels.
    response = client.images.generate(model="qwen-image", prompt="a bridge", **kwargs)

    assert decoded(response.data[0]).size == size


def test_n_three_gives_three_distinct_images_charged_for_three(client, user):
    raw = client.images.with_raw_response.generate(
        model="qwen-image", prompt="three cats", n=3, size="256x256", response_format="b64_json"
    )
    response = raw.parse()

    blobs = {item.b64_json for item in response.data}
    assert len(blobs) == 3
    generation = Generation.objects.get(pk=raw.headers["x-generation-id"])
    assert generation.images.count() == 3
    assert generation.cost_micros == 3 * 1311  # fal: $0.02/MP x 0.065536 MP, rounded up


@pytest.mark.parametrize("output_format", ["png", "jpeg", "gif", "webp", "avif"])
@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_every_output_format(client, output_format, response_format):
    response = client.images.generate(
        model="qwen-image",
        prompt="formats",
        size="320x240",
        response_format=response_format,
        extra_body={"output_format": output_format, "output_compression": 70},
    )

    image = decoded(response.data[0])
    assert image.format == output_format.upper()
    assert image.size == (320, 240)


def test_edit_with_one_uploaded_image(client):
    response = client.images.edit(
        model="qwen-image-edit",
        image=("photo.png", factories.png_bytes(300, 200), "image/png"),
        prompt="make it blue",
        size="300x200",
        response_format="b64_json",
        extra_body={"seed": 7},  # the demo's shapes and tint follow the seed
    )

    image = decoded(response.data[0]).convert("RGB")
    assert image.size == (300, 200)
    red, _, blue = ImageStat.Stat(image).mean
    assert red > blue  # the demo provider drew over the red upload


def test_edit_with_two_uploaded_images_sent_as_a_list(client):
    raw = client.images.with_raw_response.edit(
        model="qwen-image-edit-plus",
        image=[
            ("a.png", factories.png_bytes(colour=(0, 0, 255)), "image/png"),
            ("b.png", factories.png_bytes(colour=(0, 255, 0)), "image/png"),
        ],
        prompt="put them together",
    )

    generation = Generation.objects.get(pk=raw.headers["x-generation-id"])
    assert generation.mode == "edit"
    assert len(generation.params["inputs"]["images"]) == 2


def test_edit_by_json_with_a_data_uri(live_server, api_key):
    data_uri = "data:image/png;base64," + base64.b64encode(factories.png_bytes()).decode()

    response = httpx.post(
        f"{live_server.url}/v1/images/edits",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "qwen-image-edit-2509", "prompt": "sky", "image": [data_uri]},
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["url"].startswith(live_server.url)


def test_edit_by_json_refuses_urls_inside_the_network(live_server, api_key):
    response = httpx.post(
        f"{live_server.url}/v1/images/edits",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "qwen-image-edit", "prompt": "x", "image": f"{live_server.url}/healthz"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image"


def test_edit_rejects_a_file_that_is_not_an_image(client, user):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="qwen-image-edit", image=("notes.png", b"hello", "image/png"), prompt="x"
        )

    assert caught.value.body["param"] == "image"
    assert factories.balance_micros(user) == 1_000_000


def test_edit_without_image_and_generation_with_an_edit_only_model_are_400(client):
    with pytest.raises(openai.BadRequestError) as missing:
        client.post("/images/edits", body={"prompt": "x"}, cast_to=httpx.Response)
    with pytest.raises(openai.BadRequestError) as wrong_mode:
        client.images.generate(model="qwen-image-edit", prompt="x")

    assert missing.value.body["param"] == "image"
    assert wrong_mode.value.body["param"] == "model"


def test_too_large_upload_is_413(client, settings):
    settings.MAX_UPLOAD_BYTES = 1000

    with pytest.raises(openai.APIStatusError) as caught:
        client.images.edit(
            model="qwen-image-edit",
            image=("big.png", factories.png_bytes(400, 400), "image/png"),
            prompt="x",
        )

    assert caught.value.status_code == 413


def test_rate_limit_is_429_with_retry_after(client, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    client.models.list()
    client.models.list()

    with pytest.raises(openai.RateLimitError) as caught:
        client.models.list()

    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60


def test_unknown_paths_and_methods_answer_in_the_envelope(live_server, api_key):
    headers = {"Authorization": f"Bearer {api_key}"}
    unknown = httpx.get(f"{live_server.url}/v1/nope", headers=headers)
    wrong_method = httpx.get(f"{live_server.url}/v1/images/generations", headers=headers)

    assert unknown.status_code == 404 and "error" in unknown.json()
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


def test_idempotency_key_replays_the_first_answer_and_charges_once(client, user):
    headers = {"Idempotency-Key": "order-42"}
    first = client.images.with_raw_response.generate(
        model="qwen-image", prompt="once", size="256x256", extra_headers=headers
    )
    second = client.images.with_raw_response.generate(
        model="qwen-image", prompt="once", size="256x256", extra_headers=headers
    )

    assert first.headers["x-generation-id"] == second.headers["x-generation-id"]
    assert first.parse().data[0].url == second.parse().data[0].url
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CAPTURE).count() == 1
    assert factories.balance_micros(user) == factories.ledger_sum_micros(user)


def test_idempotency_key_with_other_parameters_is_refused(client):
    headers = {"Idempotency-Key": "order-43"}
    client.images.generate(model="qwen-image", prompt="one", size="256x256", extra_headers=headers)

    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.images.generate(
            model="qwen-image", prompt="two", size="256x256", extra_headers=headers
        )

    assert caught.value.body["code"] == "idempotency_key_reused"


def test_async_mode_answers_202_then_status_then_calls_the_webhook(client, webhook_receiver):
    raw = client.images.with_raw_response.generate(
        model="qwen-image",
        prompt="later",
        size="256x256",
        extra_headers={"Prefer": "respond-async"},
        extra_body={"webhook_url": webhook_receiver.hook_url},
    )

    assert raw.status_code == 202
    accepted = json.loads(raw.http_response.text)
    assert raw.headers["location"] == f"/v1/generations/{accepted['id']}"
    status = client.get(f"/generations/{accepted['id']}", cast_to=httpx.Response).json()
    assert status["status"] == "succeeded"
    assert httpx.get(status["data"][0]["url"]).status_code == 200
    hooks = [json.loads(hook.body) for hook in webhook_receiver.received]
    assert [hook["id"] for hook in hooks] == [accepted["id"]]
    assert hooks[0]["status"] == "succeeded"


def test_async_mode_shows_a_queued_generation(client, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}

    raw = client.images.with_raw_response.generate(
        model="qwen-image", prompt="later", extra_headers={"Prefer": "respond-async"}
    )

    generation_id = json.loads(raw.http_response.text)["id"]
    status = client.get(f"/generations/{generation_id}", cast_to=httpx.Response).json()
    assert status["status"] == "queued"
    assert "data" not in status


def test_async_mode_shows_a_generation_its_user_cancelled(client, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    raw = client.images.with_raw_response.generate(
        model="qwen-image", prompt="later", extra_headers={"Prefer": "respond-async"}
    )
    generation_id = json.loads(raw.http_response.text)["id"]

    factories.signed_in_client(user).post(
        reverse("studio:generation-cancel", args=[generation_id]), headers=factories.HTMX
    )

    status = client.get(f"/generations/{generation_id}", cast_to=httpx.Response).json()
    assert status["status"] == "cancelled"
    assert status["error"]["code"] == "generation_cancelled"
    assert status["cost"] == "0.00"


def test_generations_of_other_users_are_404(client, live_server):
    other = factories.user_with_account()
    other_client = openai.OpenAI(
        base_url=f"{live_server.url}/v1", api_key=factories.raw_api_key(user=other), max_retries=0
    )
    raw = other_client.images.with_raw_response.generate(
        model="qwen-image", prompt="mine", size="64x64"
    )

    with pytest.raises(openai.NotFoundError):
        client.get(f"/generations/{raw.headers['x-generation-id']}", cast_to=httpx.Response)


def test_models_carry_modes_sizes_and_a_starting_price(client):
    model = client.models.retrieve("qwen-image-edit-2509")

    assert model.modes == ["edit"]
    assert model.price_from_usd == "0.031458"  # fal's $0.03 per megapixel, at 1024x1024
    assert model.sizes["1K"]["16:9"] == "1365x768"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("dall-e-3")


def test_openapi_document_describes_the_endpoints(live_server):
    document = httpx.get(f"{live_server.url}/v1/openapi.json").json()

    assert document["openapi"].startswith("3.")
    assert {"/images/generations", "/images/edits", "/models", "/generations/{id}"} <= set(
        document["paths"]
    )


SHAPES = [
    ("size", "256x256", True),
    ("size", " 16:9 ", True),
    ("size", "AUTO", True),
    ("size", "\uff12\uff15\uff16x\uff12\uff15\uff16", False),  # fullwidth digits
    ("size", "big", False),
    ("aspect_ratio", "3:2", True),
    ("aspect_ratio", "\u0663:\u0662", False),  # Arabic-Indic digits
    ("resolution", "0.25", True),
    ("resolution", "0.5k", True),
    ("resolution", "\u0661K", False),
]


@pytest.mark.parametrize(("param", "value", "taken"), SHAPES)
def test_the_openapi_document_takes_the_shapes_the_server_takes(
    live_server, api_key, param, value, taken
):
    """The document's size, aspect_ratio and resolution patterns, read as a JSON Schema
    validator reads them, agree with the server."""
    with factories.api_client(live_server.url, api_key, timeout=30) as api:
        document = api.get("/openapi.json").json()
        response = api.post(
            "/images/generations", json={"model": "qwen-image", "prompt": "x", param: value}
        )
    schema = document["components"]["schemas"]["GenerationRequest"]["properties"][param]

    assert bool(re.search(schema["pattern"], value)) is taken
    assert (response.status_code == 200) is taken, response.text
    if not taken:
        assert response.json()["error"]["param"] == param


def test_the_openapi_document_says_an_edit_needs_an_image(client):
    schemas = client.get("/openapi.json", cast_to=httpx.Response).json()["components"]["schemas"]

    assert schemas["EditForm"]["properties"]["image"]["minItems"] == 1
    assert schemas["EditJson"]["properties"]["image"]["oneOf"][1]["minItems"] == 1
    with pytest.raises(openai.BadRequestError) as refused:
        client.post(
            "/images/edits",
            body={"model": "qwen-image-edit", "prompt": "x", "image": []},
            cast_to=httpx.Response,
        )
    assert refused.value.body["param"] == "image"


def test_openapi_document_states_the_upload_limits_of_this_deployment(live_server, settings):
    settings.MAX_EDIT_PIXELS = 50_000_000

    document = httpx.get(f"{live_server.url}/v1/openapi.json").json()

    image = document["components"]["schemas"]["EditForm"]["properties"]["image"]
    assert image["maxItems"] == settings.MAX_INPUT_IMAGES
    assert "together at most 50,000,000 pixels" in image["description"]
    assert "before any is decoded" in image["description"]
