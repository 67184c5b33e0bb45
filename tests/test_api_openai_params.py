"""OpenAI's own parameters (`quality`, `background`, `moderation`, `user`, ...) and the answer's
fields, as today's SDKs send and read them: each has a defined behaviour."""

import base64
import io

import openai
import pytest
from PIL import Image

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, api_key):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def upstream(openai_fake, provider_env):
    """An OpenAI-compatible upstream, which takes OpenAI's parameters, as the only provider."""
    provider_env(openai_fake)
    return openai_fake


def generated(client, **fields):
    return client.images.generate(
        model="qwen-image", prompt="a glass bottle", response_format="b64_json", **fields
    )


def pixels(response) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json)))


def test_the_answer_says_the_size_format_and_background_in_the_sdks_fields(client):
    response = generated(client, size="640x480", output_format="webp")

    assert (response.size, response.output_format, response.background) == (
        "640x480",
        "webp",
        "opaque",
    )
    assert response.quality is None  # no provider here has a quality to report
    assert response.created > 0


def test_a_transparent_background_no_provider_makes_is_a_400_naming_it(client, user):
    with pytest.raises(openai.BadRequestError) as refused:
        generated(client, background="transparent")

    assert refused.value.param == "background"
    assert "transparent" in refused.value.message
    assert not Generation.objects.exists()
    assert factories.balance_micros(user) == 1_000_000


def test_a_transparent_background_in_jpeg_is_a_400(client, upstream):
    with pytest.raises(openai.BadRequestError) as refused:
        generated(client, background="transparent", output_format="jpeg")

    assert refused.value.param == "background"
    assert "png" in refused.value.message


def test_an_upstream_that_takes_background_makes_it_transparent(client, upstream):
    response = generated(client, background="transparent", quality="high", moderation="low")

    assert response.background == "transparent"
    assert response.quality == "high"
    assert pixels(response).mode == "RGBA"
    assert pixels(response).getextrema()[3] == (0, 0)
    sent = upstream.requests_to("generations")[-1].json
    assert sent | {"background": "transparent", "quality": "high", "moderation": "low"} == sent


def test_an_opaque_image_is_never_handed_back_for_a_transparent_one(client, upstream, user):
    upstream.makes_transparency = False

    with pytest.raises(openai.InternalServerError) as failed:
        generated(client, background="transparent")

    assert failed.value.status_code == 502
    generation = Generation.objects.get()
    assert "opaque" in generation.attempts[0]["error"]
    assert not generation.images.exists()
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_opaque_and_auto_are_what_every_model_makes(client, fal):
    raw = client.images.with_raw_response.generate(
        model="qwen-image", prompt="x", background="opaque", quality="auto", moderation="auto"
    )

    assert "mapped" not in raw.http_response.json()
    assert "background" not in fal.requests_to("submit")[-1].json  # fal's schema has none


def test_a_parameter_a_provider_lacks_is_left_out_and_said(client, fal):
    raw = client.images.with_raw_response.generate(
        model="qwen-image",
        prompt="x",
        quality="high",
        extra_body={"input_fidelity": "high", "a_future_flag": 3},
    )

    mapped = raw.http_response.json()["mapped"]
    assert {entry["param"]: entry["served"] for entry in mapped} == {
        "quality": "not taken here: not sent",
        "input_fidelity": "not taken here: not sent",
        "a_future_flag": "not taken here: not sent",
    }
    assert raw.parse().quality is None
    sent = fal.requests_to("submit")[-1].json
    assert not {"quality", "input_fidelity", "a_future_flag"} & sent.keys()


def test_a_parameter_a_later_sdk_adds_reaches_an_upstream_that_takes_it(client, upstream):
    upstream.extensions["a_future_flag"] = upstream.extensions["seed"]  # an integer field

    generated(client, extra_body={"a_future_flag": 3})

    assert upstream.requests_to("generations")[-1].json["a_future_flag"] == 3


def test_the_end_user_ids_never_reach_a_provider(client, upstream):
    generated(client, user="end-user-7", extra_body={"safety_identifier": "hash-7"})

    sent = upstream.requests_to("generations")[-1].json
    assert not {"user", "safety_identifier"} & sent.keys()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quality", "ultra"),
        ("background", "glass"),
        ("moderation", "none"),
        ("input_fidelity", "max"),
        ("style", "bold"),
        ("partial_images", 4),
        ("stream", "yes"),
    ],
)
def test_a_value_outside_openais_choices_is_a_400_naming_it(client, field, value):
    with pytest.raises(openai.BadRequestError) as refused:
        generated(client, extra_body={field: value})

    assert refused.value.param == field
