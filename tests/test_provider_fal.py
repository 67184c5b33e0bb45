"""The fal.ai adapter against the fake queue, over HTTP."""

import asyncio
import io
import time

import httpx
import pytest
from PIL import Image

from playground.providers.base import (
    ProgressStatus,
    ProviderProgress,
    ProviderRejected,
    ProviderUnavailable,
)
from playground.providers.fal import FalProvider
from tests import factories
from tests.fakes.fal import FalFake
from tests.fakes.fixtures import adapter_for, make_job, run
from tests.fakes.schema import decode_data_uri

pytestmark = pytest.mark.usefixtures("fast_polling")


def generate(fake: FalFake, **fields):
    return run(lambda client: adapter_for(fake).generate(make_job(**fields), client))


def test_text_to_image_translates_the_parameters(fal_fake):
    result = generate(
        fal_fake,
        width=320,
        height=240,
        n=2,
        negative_prompt="blurry",
        output_format="webp",
        params={
            "cfg_scale": 3.5,
            "num_inference_steps": 12,
            "acceleration": "regular",
            "enable_safety_checker": False,
            "loras": [{"path": "https://example.com/style.safetensors", "scale": 0.5}],
        },
    )

    [submit] = fal_fake.requests_to("submit")
    assert submit.path == "/fal-ai/qwen-image"
    assert submit.headers["authorization"] == f"Key {fal_fake.api_key}"
    assert submit.json == {
        "prompt": "a lighthouse at dawn",
        "negative_prompt": "blurry",
        "image_size": {"width": 320, "height": 240},  # converted
        "seed": 7,
        "num_images": 2,  # renamed from n
        "output_format": "png",  # webp is made from png by the gateway
        "guidance_scale": 3.5,  # renamed from cfg_scale
        "num_inference_steps": 12,
        "acceleration": "regular",
        "enable_safety_checker": False,
        "loras": [{"path": "https://example.com/style.safetensors", "scale": 0.5}],  # as sent
    }
    assert [image.seed for image in result.images] == [7, 7]
    assert result.request_id in fal_fake.jobs
    for image in result.images:
        assert image.url.startswith(f"{fal_fake.url}/files/")
        picture = Image.open(io.BytesIO(httpx.get(image.url).content))
        assert (picture.format, picture.size) == ("PNG", (320, 240))


def test_a_size_name_is_sent_as_fals_preset_and_made_at_its_pixels(fal_fake):
    result = generate(fal_fake, width=1024, height=576, size_name="landscape_16_9")

    [submit] = fal_fake.requests_to("submit")
    assert submit.json["image_size"] == "landscape_16_9"
    [image] = result.images
    assert Image.open(io.BytesIO(httpx.get(image.url).content)).size == (1024, 576)


def test_no_size_name_sends_no_image_size(fal_fake):
    source = factories.png_bytes(width=40, height=30)

    result = generate(
        fal_fake,
        model_id="fal-ai/qwen-image-edit",
        images=(source,),
        image_list=False,
        size_name="",
    )

    [submit] = fal_fake.requests_to("submit")
    assert "image_size" not in submit.json
    [image] = result.images
    width, height = Image.open(io.BytesIO(httpx.get(image.url).content)).size
    assert abs(width / height - 4 / 3) < 0.02  # the input's shape


def test_progress_reports_queue_positions_then_logs(fal_fake):
    fal_fake.queue_position = 2
    fal_fake.logs = ("step 1/2", "step 2/2")
    seen: list[ProviderProgress] = []

    async def on_progress(progress: ProviderProgress) -> None:
        seen.append(progress)

    run(lambda client: adapter_for(fal_fake).generate(make_job(), client, on_progress=on_progress))

    assert seen == [
        ProviderProgress(status=ProgressStatus.QUEUED, queue_position=1),
        ProviderProgress(status=ProgressStatus.QUEUED, queue_position=0),
        ProviderProgress(status=ProgressStatus.RUNNING, logs=("step 1/2",)),
        ProviderProgress(status=ProgressStatus.RUNNING, logs=("step 1/2", "step 2/2")),
    ]
    polls = fal_fake.requests_to("status")
    assert len(polls) == 5
    assert all(poll.query == {"logs": "1"} for poll in polls)


def test_multi_image_edit_sends_data_uris_as_image_urls(fal_fake):
    red, blue = factories.png_bytes(colour=(255, 0, 0)), factories.png_bytes(colour=(0, 0, 255))

    result = generate(fal_fake, model_id="fal-ai/qwen-image-edit-plus", images=(red, blue))

    [submit] = fal_fake.requests_to("submit")
    assert "image_url" not in submit.json
    assert [decode_data_uri(uri) for uri in submit.json["image_urls"]] == [red, blue]
    assert submit.json["image_urls"][0].startswith("data:image/png;base64,")
    assert len(result.images) == 1


def test_one_image_endpoint_gets_image_url(fal_fake):
    source = factories.png_bytes()

    generate(fal_fake, model_id="fal-ai/qwen-image-edit", images=(source,), image_list=False)

    [submit] = fal_fake.requests_to("submit")
    assert decode_data_uri(submit.json["image_url"]) == source
    assert "image_urls" not in submit.json


def test_sync_mode_results_are_data_uris(fal_fake):
    result = generate(fal_fake, params={"sync_mode": True})

    [image] = result.images
    picture = Image.open(io.BytesIO(decode_data_uri(image.url)))
    assert picture.size == (64, 48)


def test_subpath_models_are_polled_only_at_the_urls_fal_returned(fal_fake):
    result = generate(
        fal_fake,
        model_id="fal-ai/qwen-image/image-to-image",
        images=(factories.png_bytes(),),
        image_list=False,
        params={"strength": 0.6},
    )

    [submit] = fal_fake.requests_to("submit")
    assert submit.path == "/fal-ai/qwen-image/image-to-image"
    assert submit.json["strength"] == 0.6
    request_id = result.request_id
    owner_app = f"/fal-ai/qwen-image/requests/{request_id}"
    assert {poll.path for poll in fal_fake.requests_to("status")} == {f"{owner_app}/status"}
    assert [get.path for get in fal_fake.requests_to("result")] == [owner_app]
    subpath_form = f"{fal_fake.url}/fal-ai/qwen-image/image-to-image/requests/{request_id}/status"
    auth = {"Authorization": submit.headers["authorization"]}
    assert httpx.get(subpath_form, headers=auth).status_code == 404


def test_a_held_job_finishes_when_the_fake_releases_it(fal_fake):
    fal_fake.hold_jobs()

    async def scenario(client: httpx.AsyncClient):
        task = asyncio.create_task(adapter_for(fal_fake).generate(make_job(), client))
        await asyncio.to_thread(fal_fake.wait_for, lambda: len(fal_fake.requests_to("status")) >= 3)
        assert not task.done()
        fal_fake.release_jobs()
        return await task

    assert len(run(scenario).images) == 1


def test_a_delayed_job_runs_that_long(fal_fake):
    # Long enough that the first status poll comes before the job is ready, even on a busy
    # machine (with 0.2 s, a CI run under load polled first after it was ready).
    fal_fake.delay = 0.5
    started = time.monotonic()

    generate(fal_fake)

    assert time.monotonic() - started >= 0.5
    assert len(fal_fake.requests_to("status")) > 1


def test_cancel_reaches_the_fake_and_the_job_never_succeeds(fal_fake):
    fal_fake.hold_jobs()
    provider = adapter_for(fal_fake)

    async def scenario(client: httpx.AsyncClient):
        handle = await provider.submit(make_job(), client)
        await provider.cancel(handle, client)
        fal_fake.release_jobs()
        with pytest.raises(ProviderRejected, match="cancelled"):
            await provider.wait(handle, client)
        await provider.cancel(handle, client)  # ALREADY_COMPLETED is not an error
        return handle

    handle = run(scenario)
    cancels = fal_fake.requests_to("cancel")
    assert [(c.method, f"{fal_fake.url}{c.path}") for c in cancels] == [
        ("PUT", handle["cancel_url"])
    ] * 2
    assert fal_fake.jobs[handle["request_id"]].cancelled


def test_a_failed_run_is_rejected_with_fals_reason(fal_fake):
    fal_fake.job_error = "The image was flagged by the content checker"

    with pytest.raises(ProviderRejected, match="flagged by the content checker") as caught:
        generate(fal_fake)
    assert caught.value.status == 422


def test_unknown_and_mistyped_fields_are_rejected_with_fals_reason(fal_fake):
    with pytest.raises(ProviderRejected) as caught:
        generate(fal_fake, params={"bogus_flag": True, "num_inference_steps": "many"})

    message = str(caught.value)
    assert "body.bogus_flag: Extra inputs are not permitted" in message
    assert "body.num_inference_steps: Input should be a valid integer" in message
    assert caught.value.param == "bogus_flag"


@pytest.mark.parametrize(
    ("model_id", "params", "param", "reason"),
    [
        ("fal-ai/qwen-image", {"num_inference_steps": 251}, "num_inference_steps", "250"),
        ("fal-ai/qwen-image-2512", {"num_inference_steps": 51}, "num_inference_steps", "50"),
        ("fal-ai/qwen-image", {"cfg_scale": 20.5}, "cfg_scale", "20"),
        ("fal-ai/qwen-image-2512", {"use_turbo": True}, "use_turbo", "Extra inputs"),
    ],
)
def test_a_value_outside_the_endpoints_schema_is_rejected_naming_the_public_param(
    fal_fake, model_id, params, param, reason
):
    with pytest.raises(ProviderRejected) as caught:
        generate(fal_fake, model_id=model_id, params=params)

    assert (caught.value.status, caught.value.param) == (422, param)
    assert reason in str(caught.value)
    assert fal_fake.jobs == {}


def test_the_edit_endpoints_take_their_own_image_field_and_accelerations(fal_fake):
    source = factories.png_bytes()
    one = {"model_id": "fal-ai/qwen-image-edit", "images": (source,)}

    with pytest.raises(ProviderRejected, match=r"body\.image_url: Field required"):
        generate(fal_fake, **one)  # a list where the endpoint takes one image
    with pytest.raises(ProviderRejected, match=r"body\.acceleration") as caught:
        generate(fal_fake, **one, image_list=False, params={"acceleration": "high"})
    assert caught.value.param == "acceleration"
    with pytest.raises(ProviderRejected, match=r"body\.image_urls: Field required"):
        generate(
            fal_fake, model_id="fal-ai/qwen-image-edit-plus", images=(source,), image_list=False
        )


def test_images_the_safety_checker_flags_come_back_black_and_marked(fal_fake):
    fal_fake.flag_next_nsfw(images={1})

    result = generate(fal_fake, n=2)

    assert [image.flagged for image in result.images] == [False, True]
    flagged = Image.open(io.BytesIO(httpx.get(result.images[1].url).content))
    assert flagged.convert("RGB").getpixel((0, 0)) == (0, 0, 0)
    assert [image.flagged for image in generate(fal_fake).images] == [False]  # only the next


def test_the_checker_flags_nothing_when_turned_off(fal_fake):
    fal_fake.flag_next_nsfw()

    result = generate(fal_fake, params={"enable_safety_checker": False})

    assert [image.flagged for image in result.images] == [False]


def test_an_unknown_model_is_unavailable_not_rejected(fal_fake):
    with pytest.raises(ProviderUnavailable) as caught:
        generate(fal_fake, model_id="fal-ai/no-such-model")
    assert caught.value.status == 404


def test_configured_from_the_environment(fal_fake, provider_env):
    provider_env(fal_fake)

    provider = FalProvider.from_environment()

    assert (provider.api_key, provider.base_url) == (fal_fake.api_key, fal_fake.url)
