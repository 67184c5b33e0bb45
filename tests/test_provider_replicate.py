"""The Replicate adapter against the fake predictions API, over HTTP."""

import io

import httpx
import pytest
from PIL import Image

from playground.providers.base import (
    ProgressStatus,
    ProviderFlagged,
    ProviderProgress,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from tests import factories
from tests.fakes.fixtures import adapter_for, make_job, run
from tests.fakes.replicate import NSFW_ERROR, ReplicateFake
from tests.fakes.schema import decode_data_uri

pytestmark = pytest.mark.usefixtures("fast_polling")

# A job as the gateway builds it for qwen/qwen-image: one of its ratios, one image at most.
QWEN_IMAGE = {
    "model_id": "qwen/qwen-image",
    "size_name": "1:1",
    "width": 1328,
    "height": 1328,
    "image_list": False,
}


def generate(fake: ReplicateFake, **fields):
    job = make_job(**(QWEN_IMAGE | fields))
    return run(lambda client: adapter_for(fake).generate(job, client))


def made_size(url: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(httpx.get(url).content)).size


def test_text_to_image_translates_the_parameters_and_finishes_in_one_call(replicate_fake):
    result = generate(
        replicate_fake,
        size_name="4:3",
        width=1472,
        height=1104,
        negative_prompt="blurry",
        output_format="jpeg",
        params={
            "cfg_scale": 4.0,
            "num_inference_steps": 20,
            "go_fast": True,
            "disable_safety_checker": True,
            "output_quality": 80,
            "enhance_prompt": True,
        },
    )

    [create] = replicate_fake.requests_to("create")
    assert create.path == "/v1/models/qwen/qwen-image/predictions"
    assert create.headers["authorization"] == f"Bearer {replicate_fake.api_key}"
    assert create.headers["prefer"] == "wait=5"
    assert create.json == {
        "input": {
            "prompt": "a lighthouse at dawn",
            "negative_prompt": "blurry",
            "aspect_ratio": "4:3",  # the size name, no width or height
            "seed": 7,
            "output_format": "jpg",  # Replicate's name for jpeg
            "guidance": 4.0,  # renamed from cfg_scale
            "num_inference_steps": 20,
            "go_fast": True,
            "disable_safety_checker": True,
            "output_quality": 80,
            "enhance_prompt": True,  # passed through under its own name
        }
    }
    assert replicate_fake.requests_to("get") == []  # Prefer: wait answered with the output
    [image] = result.images
    assert image.seed == 7
    picture = Image.open(io.BytesIO(httpx.get(image.url).content))
    assert (picture.format, picture.size) == ("JPEG", (1472, 1104))


def test_exact_pixels_are_sent_as_custom_width_and_height(replicate_fake):
    [image] = generate(
        replicate_fake, model_id="qwen/qwen-image-2512", size_name=None, width=1008, height=608
    ).images

    [create] = replicate_fake.requests_to("create")
    sent = create.json["input"]
    assert (sent["aspect_ratio"], sent["width"], sent["height"]) == ("custom", 1008, 608)
    assert made_size(image.url) == (1008, 608)


def test_qwen_image_refuses_a_custom_size(replicate_fake):
    with pytest.raises(ProviderRejected) as caught:
        generate(replicate_fake, size_name=None, width=1008, height=608)

    message = str(caught.value)
    assert "input: Additional property width is not allowed" in message
    assert 'input.aspect_ratio: aspect_ratio must be one of the following: "1:1", "16:9"' in message


def test_polls_urls_get_until_done_reporting_progress(replicate_fake):
    replicate_fake.wait_cap = 0  # the create returns at once, still starting
    replicate_fake.queue_position = 2
    replicate_fake.logs = ("Using seed: 7", "step 1/1")
    seen: list[ProviderProgress] = []

    async def on_progress(progress: ProviderProgress) -> None:
        seen.append(progress)

    job = make_job(**QWEN_IMAGE)
    result = run(
        lambda client: adapter_for(replicate_fake).generate(job, client, on_progress=on_progress)
    )

    assert seen == [
        ProviderProgress(status=ProgressStatus.QUEUED),
        ProviderProgress(status=ProgressStatus.RUNNING, logs=("Using seed: 7",)),
        ProviderProgress(status=ProgressStatus.RUNNING, logs=("Using seed: 7", "step 1/1")),
    ]
    gets = replicate_fake.requests_to("get")
    assert {get.path for get in gets} == {f"/v1/predictions/{result.request_id}"}
    assert len(gets) == 4


def test_a_single_url_output_is_one_image(replicate_fake):
    replicate_fake.single_output = True

    [image] = generate(replicate_fake).images

    assert httpx.get(image.url).status_code == 200


def test_edit_sends_one_data_uri_and_no_size(replicate_fake):
    source = factories.png_bytes(width=40, height=30)

    [image] = generate(
        replicate_fake,
        model_id="qwen/qwen-image-edit",
        images=(source,),
        size_name="",
        width=1182,
        height=887,
    ).images

    [create] = replicate_fake.requests_to("create")
    sent = create.json["input"]
    assert decode_data_uri(sent["image"]) == source
    assert not {"aspect_ratio", "width", "height"} & set(sent)
    width, height = made_size(image.url)
    assert abs(width / height - 4 / 3) < 0.02  # the input's shape


def test_edit_plus_sends_a_list_of_images_and_may_keep_the_inputs_shape(replicate_fake):
    first, second = factories.png_bytes(), factories.png_bytes(colour=(0, 255, 0))

    [image] = generate(
        replicate_fake,
        model_id="qwen/qwen-image-edit-plus",
        images=(first, second),
        image_list=True,
        size_name="match_input_image",
    ).images

    [create] = replicate_fake.requests_to("create")
    assert [decode_data_uri(uri) for uri in create.json["input"]["image"]] == [first, second]
    assert create.json["input"]["aspect_ratio"] == "match_input_image"
    width, height = made_size(image.url)
    assert abs(width / height - 64 / 48) < 0.02


def test_one_image_where_the_model_takes_a_list_is_refused(replicate_fake):
    with pytest.raises(
        ProviderRejected, match=r"input\.image: Invalid type\. Expected: array"
    ) as caught:
        generate(
            replicate_fake,
            model_id="qwen/qwen-image-edit-plus",
            images=(factories.png_bytes(),),
            size_name="16:9",
        )

    assert caught.value.param == "image"


def test_cancel_reaches_the_fake(replicate_fake):
    replicate_fake.wait_cap = 0
    replicate_fake.hold_jobs()
    provider = adapter_for(replicate_fake)

    async def scenario(client: httpx.AsyncClient):
        handle = await provider.submit(make_job(**QWEN_IMAGE), client)
        await provider.cancel(handle, client)
        with pytest.raises(ProviderUnavailable, match="canceled"):
            await provider.wait(handle, client)
        return handle

    handle = run(scenario)
    [cancel] = replicate_fake.requests_to("cancel")
    assert (cancel.method, f"{replicate_fake.url}{cancel.path}") == ("POST", handle["cancel"])
    assert replicate_fake.jobs[handle["id"]].cancelled


def test_a_failed_prediction_is_unavailable_with_its_error(replicate_fake):
    replicate_fake.job_error = "CUDA out of memory"

    with pytest.raises(ProviderUnavailable, match="'failed': CUDA out of memory"):
        generate(replicate_fake)


def test_a_prediction_the_safety_checker_fails_is_flagged(replicate_fake):
    replicate_fake.flag_next_nsfw()

    with pytest.raises(ProviderFlagged, match="All generated images contained NSFW content"):
        generate(replicate_fake)

    assert len(generate(replicate_fake).images) == 1  # only the next one


def test_the_checker_fails_nothing_when_disabled(replicate_fake):
    replicate_fake.flag_next_nsfw()

    result = generate(replicate_fake, params={"disable_safety_checker": True})

    assert len(result.images) == 1
    assert NSFW_ERROR.startswith("All generated images")


def test_an_unknown_input_is_refused_as_an_additional_property(replicate_fake):
    with pytest.raises(ProviderRejected) as caught:
        generate(replicate_fake, params={"bogus": 1})

    assert caught.value.status == 422
    assert "input: Additional property bogus is not allowed" in str(caught.value)
    assert replicate_fake.jobs == {}


@pytest.mark.parametrize(
    ("fields", "param", "reason"),
    [
        ({"params": {"cfg_scale": 10.5}}, "cfg_scale", "input.guidance: Must be less than"),
        (
            {"model_id": "qwen/qwen-image-2512", "params": {"num_inference_steps": 19}},
            "num_inference_steps",
            "Must be greater than or equal to 20",
        ),
        (
            {"model_id": "qwen/qwen-image-2512", "size_name": None, "width": 2064},
            "width",
            "Must be less than or equal to 2048",
        ),
        (
            {"model_id": "qwen/qwen-image-2512", "size_name": None, "width": 1000},
            "width",
            "Must be a multiple of 16",
        ),
        ({"params": {"image_size": "huge"}}, "image_size", "image_size must be one of"),
    ],
)
def test_a_value_outside_the_models_schema_is_refused_naming_the_public_param(
    replicate_fake, fields, param, reason
):
    with pytest.raises(ProviderRejected) as caught:
        generate(replicate_fake, **fields)

    assert (caught.value.status, caught.value.param) == (422, param)
    assert reason in str(caught.value)


def test_retry_after_is_read_from_the_body_when_the_header_is_missing(replicate_fake):
    replicate_fake.fail_next(
        429, body={"detail": "Request was throttled.", "status": 429, "retry_after": 12}
    )

    with pytest.raises(ProviderRateLimited) as caught:
        generate(replicate_fake)

    assert caught.value.retry_after == 12
