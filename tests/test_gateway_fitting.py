"""Requests fitted to what each offering takes, through the API and the providers' fakes: served
as asked before mapped, mappings said in the answer, the pixels handed back reported, values
outside every offering refused before anything is held, and refusals that fail over."""

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

START = 1_000_000  # the test user's balance, in micro-dollars


@pytest.fixture
def client(live_server, api_key):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)


def generate(client: openai.OpenAI, **fields) -> httpx.Response:
    """The raw answer of a generation (so the gateway's own fields can be read)."""
    return client.images.with_raw_response.generate(
        prompt="a harbour", response_format="b64_json", **fields
    ).http_response


def pixels(item: dict) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))).size


def last_generation() -> Generation:
    return Generation.objects.latest("created_at")


def test_an_offering_that_serves_as_asked_beats_a_cheaper_one_that_maps(client, fal, replicate):
    # Replicate's qwen-image makes 1328x1328 for 1:1 at $0.025; fal makes 1600x1600 at $0.0512.
    body = generate(client, model="qwen-image", size="1600x1600").json()

    assert last_generation().provider == "fal"
    assert body["size"] == "1600x1600"
    assert pixels(body["data"][0]) == (1600, 1600)
    assert "mapped" not in body


def test_a_shape_request_reports_the_pixels_the_provider_made(client, replicate):
    body = generate(client, model="qwen-image", size="16:9").json()

    assert replicate.requests_to("create")[0].json["input"]["aspect_ratio"] == "16:9"
    assert body["size"] == "1664x928"
    assert pixels(body["data"][0]) == (1664, 928)
    assert "mapped" not in body
    generation = last_generation()
    assert (generation.width, generation.height) == (1664, 928)


def test_exact_pixels_of_a_listed_shape_are_made_larger_and_shrunk(client, user, replicate):
    body = generate(client, model="qwen-image", size="1600x900").json()

    assert replicate.requests_to("create")[0].json["input"]["aspect_ratio"] == "16:9"
    assert body["size"] == "1600x900"
    assert pixels(body["data"][0]) == (1600, 900)
    assert body["mapped"] == [
        {
            "param": "size",
            "asked": "1600x900",
            "served": "16:9 made at 1664x928, resized to 1600x900",
        }
    ]
    assert last_generation().mapped == body["mapped"]
    assert factories.balance_micros(user) == START - 25_000


def test_exact_pixels_of_no_listed_shape_get_the_nearest_and_say_so(client, replicate):
    body = generate(client, model="qwen-image", size="1000x400").json()

    assert replicate.requests_to("create")[0].json["input"]["aspect_ratio"] == "16:9"
    assert body["size"] == "1664x928"
    assert body["mapped"][0]["served"] == "16:9 (1664x928)"


def test_a_value_beyond_the_offering_is_clamped_and_said(client, replicate):
    body = generate(
        client, model="qwen-image", size="1:1", extra_body={"num_inference_steps": 100}
    ).json()

    assert replicate.requests_to("create")[0].json["input"]["num_inference_steps"] == 50
    assert body["mapped"] == [{"param": "num_inference_steps", "asked": "100", "served": "50"}]


def test_a_value_beyond_every_offering_is_a_400_naming_the_models_range(client, user, fal):
    with pytest.raises(openai.BadRequestError) as caught:
        generate(client, model="qwen-image", extra_body={"num_inference_steps": 300})

    assert caught.value.body["param"] == "num_inference_steps"
    assert "between 1 and 250 for qwen-image" in caught.value.body["message"]
    assert fal.requests_to("submit") == []
    assert not Generation.objects.exists()
    assert factories.balance_micros(user) == START


def test_a_choice_no_configured_offering_takes_is_a_400(client, user, fal):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="qwen-image-edit-2509",
            prompt="x",
            image=("a.png", factories.png_bytes(), "image/png"),
            extra_body={"acceleration": "high"},
        )

    assert caught.value.body["param"] == "acceleration"
    assert "one of none, regular" in caught.value.body["message"]
    assert factories.balance_micros(user) == START


def test_more_images_than_a_one_image_model_takes_is_a_400_and_nothing_is_charged(
    client, user, fal, replicate
):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            model="qwen-image-edit",
            prompt="x",
            image=[
                ("a.png", factories.png_bytes(), "image/png"),
                ("b.png", factories.png_bytes(), "image/png"),
            ],
        )

    assert caught.value.body["param"] == "image"
    assert "at most 1 input image (the request has 2)" in caught.value.body["message"]
    assert fal.requests_to("submit") == replicate.requests_to("create") == []
    assert factories.balance_micros(user) == START


def test_an_edit_without_a_size_keeps_the_input_shape(client, fal):
    response = client.images.with_raw_response.edit(
        model="qwen-image-edit",
        prompt="x",
        image=("a.png", factories.png_bytes(400, 300), "image/png"),
        response_format="b64_json",
    ).http_response

    assert fal.requests_to("submit")[0].json["image_size"] == {"width": 1182, "height": 887}
    assert response.json()["size"] == "1182x887"


def test_a_parameter_the_provider_does_not_take_is_not_sent_and_said(client, replicate):
    response = client.images.with_raw_response.edit(
        model="qwen-image-edit",
        prompt="x",
        image=("a.png", factories.png_bytes(400, 300), "image/png"),
        extra_body={"negative_prompt": "fog"},
    ).http_response

    sent = replicate.requests_to("create")[0].json["input"]
    assert "negative_prompt" not in sent
    assert "aspect_ratio" not in sent  # this model keeps the input's shape and takes no size
    assert response.json()["mapped"] == [
        {"param": "negative_prompt", "asked": "fog", "served": "not taken here: not sent"}
    ]


def test_a_providers_refusal_fails_over_to_the_next_offering(client, user, fal, replicate):
    fal.fail_next(422, on="submit", message="image_size is too large")

    generate(client, model="qwen-image")

    generation = last_generation()
    assert generation.provider == "replicate"
    assert generation.attempts[0]["status"] == 422
    assert factories.balance_micros(user) == START - 25_000


def test_when_every_provider_refuses_the_caller_hears_the_first_refusal(
    client, user, fal, replicate
):
    fal.fail_next(422, on="submit", message="first refusal")
    replicate.fail_next(422, on="create", message="second refusal")

    with pytest.raises(openai.BadRequestError) as caught:
        generate(client, model="qwen-image")

    assert caught.value.body["code"] == "provider_rejected"
    assert "first refusal" in caught.value.body["message"]
    assert factories.balance_micros(user) == START == factories.ledger_sum_micros(user)


def test_images_a_safety_filter_withheld_are_left_out_and_not_charged(client, user, fal):
    fal.flag_next_nsfw(images=[1])

    body = generate(client, model="qwen-image", size="1000x1000", n=3).json()

    assert len(body["data"]) == 2
    generation = last_generation()
    assert generation.images.count() == 2
    per_image = generation.routes[0]["cost_micros"] // 3
    assert generation.cost_micros == 2 * per_image
    assert factories.balance_micros(user) == START - 2 * per_image


def test_every_image_withheld_is_a_400_that_costs_nothing(client, user, fal, replicate):
    fal.flag_next_nsfw()

    with pytest.raises(openai.BadRequestError) as caught:
        generate(client, model="qwen-image")

    assert caught.value.body["code"] == "moderation_blocked"
    assert replicate.requests_to("create") == []  # another provider would be asked the same
    assert factories.balance_micros(user) == START == factories.ledger_sum_micros(user)


def test_a_replicate_prediction_failed_by_its_safety_checker_is_a_400(client, user, replicate):
    replicate.flag_next_nsfw()

    with pytest.raises(openai.BadRequestError) as caught:
        generate(client, model="qwen-image")

    assert caught.value.body["code"] == "moderation_blocked"
    assert "NSFW" in caught.value.body["message"]
    assert factories.balance_micros(user) == START


def test_a_value_beyond_the_old_global_range_still_names_the_models_range(client, fal):
    with pytest.raises(openai.BadRequestError) as caught:
        generate(client, model="qwen-image-2512", extra_body={"num_inference_steps": 600})

    assert "between 1 and 50 for qwen-image-2512" in caught.value.body["message"]
