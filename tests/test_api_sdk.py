"""The image API through the official OpenAI Python SDK against a live server."""

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from playground.accounts.money import usd_str
from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, api_key):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)


def test_generate_returns_a_fetchable_url_and_charges_the_ledger(client, user):
    before = factories.balance_micros(user)

    raw = client.images.with_raw_response.generate(
        model="qwen-image", prompt="a lighthouse at dawn", size="1024x1024"
    )
    response = raw.parse()

    assert len(response.data) == 1
    fetched = httpx.get(response.data[0].url)  # no session cookie, no key
    assert fetched.status_code == 200
    image = Image.open(io.BytesIO(fetched.content))
    assert (image.format, image.size) == ("PNG", (1024, 1024))

    generation = Generation.objects.get(pk=raw.headers["x-generation-id"])
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.provider == "demo"
    charged = generation.cost_micros
    assert charged > 0
    assert raw.headers["x-credits-charged"] == usd_str(charged)
    assert raw.headers["x-credits-remaining"] == usd_str(before - charged)
    assert factories.balance_micros(user) == before - charged
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)


def test_generate_b64_json_honours_size_and_seed(client):
    kwargs = {
        "model": "qwen-image",
        "prompt": "a red fox",
        "size": "640x480",
        "response_format": "b64_json",
        "extra_body": {"seed": 42},
    }
    first = client.images.generate(**kwargs)
    second = client.images.generate(**kwargs)

    data = base64.b64decode(first.data[0].b64_json)
    assert Image.open(io.BytesIO(data)).size == (640, 480)
    assert data == base64.b64decode(second.data[0].b64_json)


def test_wrong_key_gets_401_in_the_error_envelope(live_server, catalog):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="sk-wrong", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as caught:
        client.images.generate(model="qwen-image", prompt="x")

    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"
    assert caught.value.body["type"] == "invalid_request_error"


def test_missing_key_gets_401(live_server, catalog):
    response = httpx.post(f"{live_server.url}/v1/images/generations", json={"prompt": "x"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


def test_insufficient_credits_is_402_and_charges_nothing(live_server, catalog, settings):
    settings.STARTER_CREDITS_USD = "0.01"
    broke = factories.user_with_account()
    key = factories.raw_api_key(user=broke)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0)

    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="qwen-image", prompt="x")

    assert caught.value.status_code == 402
    assert caught.value.body["code"] == "insufficient_credits"
    assert factories.balance_micros(broke) == 10_000
    assert not Generation.objects.filter(user=broke).exists()


def test_unknown_model_is_404_naming_the_models_endpoint(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.images.generate(model="no-such-model", prompt="x")

    assert caught.value.body["code"] == "model_not_found"
    assert "/v1/models" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"prompt": "x", "size": "big"}, "size"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "response_format": "bmp"}, "response_format"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_bad_parameters_are_400_naming_the_param(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="qwen-image", **kwargs)

    assert caught.value.body["param"] == param


def test_malformed_json_is_400_not_500(live_server, api_key):
    response = httpx.post(
        f"{live_server.url}/v1/images/generations",
        content=b"{not json",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_models_list_has_the_catalog(client):
    ids = [model.id for model in client.models.list()]

    assert ids == [
        "qwen-image",
        "qwen-image-2512",
        "qwen-image-edit",
        "qwen-image-edit-plus",
        "qwen-image-edit-2509",
    ]
