"""OpenAI's own parameters (`quality`, `background`, `moderation`, `user`, ...) and the answer's
fields, as today's SDKs send and read them: each has a defined behaviour."""

import base64
import io
import tomllib
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

import openai
import pytest
from openai.types import image_edit_params, image_generate_params
from PIL import Image

import playground.catalog
from playground.gateway.models import Generation
from playground.gateway.schemas import CHOICES, OUTPUT_FORMATS, RESPONSE_FORMATS
from tests import factories

CATALOG = Path(playground.catalog.__file__).parent / "data" / "catalog.toml"

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
        ("stream", 1),
    ],
)
def test_a_value_outside_openais_choices_is_a_400_naming_it(client, field, value):
    with pytest.raises(openai.BadRequestError) as refused:
        generated(client, extra_body={field: value})

    assert refused.value.param == field


# The installed SDK's own parameters: the suite fails the day a release adds one, or a value,
# that has no behaviour defined here.

SDK_PARAMS = (image_generate_params.ImageGenerateParamsBase, image_edit_params.ImageEditParamsBase)
# Values of the SDK that are refused here on purpose, with a 400 naming the parameter.
REFUSED_VALUES = {"output_format": {"svg"}}
ACCEPTED = CHOICES | {"output_format": OUTPUT_FORMATS, "response_format": RESPONSE_FORMATS}


def literal_values(annotation) -> set:
    if get_origin(annotation) is Literal:
        return set(get_args(annotation))
    return {value for argument in get_args(annotation) for value in literal_values(argument)}


def sdk_fields() -> dict[str, set]:
    """Each request field of the SDK's image calls, with the values its type lists (if any)."""
    fields: dict[str, set] = {}
    for params in SDK_PARAMS:
        for name, annotation in get_type_hints(params).items():
            fields.setdefault(name, set()).update(literal_values(annotation))
    return fields


def test_every_parameter_of_the_sdk_is_documented_with_its_behaviour():
    documented = tomllib.loads(CATALOG.read_text())["parameters"]

    assert set(sdk_fields()) - set(documented) == set()


def test_every_value_the_sdk_offers_is_taken_or_refused_on_purpose():
    for name, values in sdk_fields().items():
        if name in ACCEPTED:
            assert values - set(ACCEPTED[name]) <= REFUSED_VALUES.get(name, set()), name


def test_the_documented_choices_are_the_ones_checked():
    documented = tomllib.loads(CATALOG.read_text())["parameters"]

    for name, choices in CHOICES.items():
        assert documented[name]["choices"] == list(choices), name


def test_a_guide_file_no_provider_takes_is_refused_not_dropped(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(
            model="qwen-image-edit",
            image=("photo.png", factories.png_bytes(), "image/png"),
            markup=("guide.png", factories.mask_png(), "image/png"),
            prompt="x",
        )

    assert refused.value.param == "markup"
    assert not Generation.objects.exists()


def test_svg_output_is_a_400_naming_it(client):
    with pytest.raises(openai.BadRequestError) as refused:
        generated(client, output_format="svg")

    assert refused.value.param == "output_format"
