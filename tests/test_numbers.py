"""Numbers a caller types are ASCII digits: Python's int() and float() would read any Unicode
digit ("\u0663" Arabic-Indic and "\uff13" fullwidth are 3), in the API's forms and JSON and in
the pages' forms alike."""

from decimal import Decimal

import openai
import pytest

from playground.gateway.models import Generation
from playground.numbers import parse_decimal, parse_float, parse_int
from tests import factories

ARABIC_3 = "\u0663"
FULLWIDTH_3 = "\uff13"
FULLWIDTH_1024 = "\uff11\uff10\uff12\uff14"
ARABIC_50 = "\u0665\u0660"


@pytest.mark.parametrize(
    ("text", "number"), [("3", 3), ("-12", -12), ("+7", 7), ("0042", 42), ("9" * 30, 10**30 - 1)]
)
def test_parse_int_reads_ascii_digits(text, number):
    assert parse_int(text) == number


@pytest.mark.parametrize(
    "text", [ARABIC_3, FULLWIDTH_3, "\U0001d7db", "1_000", " 3", "3 ", "3.0", "", "+", "0x10"]
)
def test_parse_int_refuses_anything_else(text):
    with pytest.raises(ValueError, match="ASCII digits"):
        parse_int(text)


@pytest.mark.parametrize(
    ("text", "number"), [("2", 2.0), ("-0.5", -0.5), (".5", 0.5), ("4.", 4.0), ("1e3", 1000.0)]
)
def test_parse_float_and_decimal_read_ascii_numbers(text, number):
    assert parse_float(text) == number
    assert parse_decimal(text) == Decimal(text)


@pytest.mark.parametrize(
    "text", [f"0.{ARABIC_3}", f"{FULLWIDTH_3}.5", "nan", "inf", "1e999", "1_0.5", "0x1p3", ""]
)
def test_parse_float_refuses_anything_else(text):
    with pytest.raises(ValueError, match="ASCII digits"):
        parse_float(text)


@pytest.fixture
def api(asgi_server, api_key):
    with factories.api_client(asgi_server, api_key, timeout=60) as client:
        yield client


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("n", ARABIC_3),
        ("seed", FULLWIDTH_3),
        ("output_compression", ARABIC_50),
        ("partial_images", FULLWIDTH_3),
        ("size", f"{FULLWIDTH_1024}x{FULLWIDTH_1024}"),
        ("aspect_ratio", f"{ARABIC_3}:{FULLWIDTH_3}"),
        ("strength", f"0.{ARABIC_3}"),
        ("num_inference_steps", ARABIC_50),
    ],
)
def test_a_multipart_edit_with_other_digits_is_a_400_naming_the_param(api, user, param, value):
    response = api.post(
        "/images/edits",
        data={"model": "qwen-image-edit-plus", "prompt": "make it blue", param: value},
        files={"image": ("a.png", factories.png_bytes(), "image/png")},
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert not Generation.objects.exists()
    assert factories.balance_micros(user) == factories.START


@pytest.mark.django_db(transaction=True)
def test_ascii_numbers_in_a_multipart_edit_are_read(api):
    response = api.post(
        "/images/edits",
        data={
            "model": "qwen-image-edit-plus",
            "prompt": "make it blue",
            "n": "2",
            "seed": "7",
            "size": "256x256",
            "output_format": "webp",
            "output_compression": "50",
        },
        files={"image": ("a.png", factories.png_bytes(), "image/png")},
    )

    assert response.status_code == 200, response.text
    generation = Generation.objects.get()
    assert (generation.n, generation.seed, generation.params["output_compression"]) == (2, 7, 50)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("param", "value"), [("size", f"{FULLWIDTH_1024}x{FULLWIDTH_1024}"), ("n", ARABIC_3)]
)
def test_a_json_string_with_other_digits_is_a_400_through_the_sdk(
    live_server, api_key, param, value
):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)

    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="qwen-image", prompt="x", extra_body={param: value})

    assert refused.value.body["param"] == param
    assert not Generation.objects.exists()


@pytest.mark.django_db
def test_the_playground_refuses_a_seed_in_other_digits(signed_in, user):
    response = factories.generate(signed_in, seed=f"{ARABIC_3}{ARABIC_3}", lock_seed="on")

    assert "Enter a whole number." in response.text
    assert not Generation.objects.filter(user=user).exists()
