"""The Replicate adapter against the fake predictions API, over HTTP."""

import io

import httpx
import pytest
from PIL import Image

from playground.providers.base import (
    ProgressStatus,
    ProviderProgress,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from tests import factories
from tests.fakes.fixtures import adapter_for, make_job, run
from tests.fakes.replicate import ReplicateFake
from tests.fakes.schema import decode_data_uri

pytestmark = pytest.mark.usefixtures("fast_polling")


def generate(fake: ReplicateFake, **fields):
    job = make_job(**{"model_id": "qwen/qwen-image", **fields})
    return run(lambda client: adapter_for(fake).generate(job, client))


def test_text_to_image_translates_the_parameters_and_finishes_in_one_call(replicate_fake):
    result = generate(
        replicate_fake,
        width=1183,
        height=887,
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
            "aspect_ratio": "4:3",  # 1183x887 has the shape of 4:3
            "seed": 7,
            "output_format": "jpg",  # Replicate's name for jpeg
            "guidance": 4.0,  # renamed from cfg_scale
            "num_inference_steps": 20,
            "go_fast": True,
            "disable_safety_checker": True,
            "output_quality": 80,
            "enhance_prompt": True,  # unknown here, passed through
        }
    }
    assert replicate_fake.requests_to("get") == []  # Prefer: wait answered with the output
    [image] = result.images
    assert image.seed == 7
    picture = Image.open(io.BytesIO(httpx.get(image.url).content))
    assert (picture.format, picture.size) == ("JPEG", (1472, 1104))


def test_a_size_of_no_listed_shape_is_sent_as_custom_multiples_of_16(replicate_fake):
    generate(replicate_fake, width=1010, height=610)

    [create] = replicate_fake.requests_to("create")
    sent = create.json["input"]
    assert (sent["aspect_ratio"], sent["width"], sent["height"]) == ("custom", 1008, 608)


def test_polls_urls_get_until_done_reporting_progress(replicate_fake):
    replicate_fake.wait_cap = 0  # the create returns at once, still starting
    replicate_fake.queue_position = 2
    replicate_fake.logs = ("Using seed: 7", "step 1/1")
    seen: list[ProviderProgress] = []

    async def on_progress(progress: ProviderProgress) -> None:
        seen.append(progress)

    job = make_job(model_id="qwen/qwen-image")
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


def test_edit_sends_one_data_uri_and_the_nearest_ratio(replicate_fake):
    source = factories.png_bytes()

    generate(
        replicate_fake, model_id="qwen/qwen-image-edit", images=(source,), width=1010, height=610
    )

    [create] = replicate_fake.requests_to("create")
    sent = create.json["input"]
    assert decode_data_uri(sent["image"]) == source
    assert sent["aspect_ratio"] == "16:9"  # the edit models take no custom size
    assert "width" not in sent


def test_edit_plus_sends_a_list_of_images(replicate_fake):
    first, second = factories.png_bytes(), factories.png_bytes(colour=(0, 255, 0))

    generate(replicate_fake, model_id="qwen/qwen-image-edit-plus", images=(first, second))

    [create] = replicate_fake.requests_to("create")
    assert [decode_data_uri(uri) for uri in create.json["input"]["image"]] == [first, second]


def test_cancel_reaches_the_fake(replicate_fake):
    replicate_fake.wait_cap = 0
    replicate_fake.hold_jobs()
    provider = adapter_for(replicate_fake)

    async def scenario(client: httpx.AsyncClient):
        handle = await provider.submit(make_job(model_id="qwen/qwen-image"), client)
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


def test_invalid_input_is_rejected_with_replicates_detail(replicate_fake):
    with pytest.raises(ProviderRejected) as caught:
        generate(replicate_fake, params={"bogus": 1})

    assert caught.value.status == 422
    assert "input.bogus: Extra inputs are not permitted" in str(caught.value)


def test_retry_after_is_read_from_the_body_when_the_header_is_missing(replicate_fake):
    replicate_fake.fail_next(
        429, body={"detail": "Request was throttled.", "status": 429, "retry_after": 12}
    )

    with pytest.raises(ProviderRateLimited) as caught:
        generate(replicate_fake)

    assert caught.value.retry_after == 12
