"""The Qwen-Image-2512 task API adapter against its fake, over HTTP."""

import io

import httpx
import pytest
from PIL import Image

from playground.providers.base import (
    ProgressStatus,
    ProviderProgress,
    ProviderRejected,
    ProviderUnavailable,
)
from tests import factories
from tests.fakes.fixtures import adapter_for, make_job, run
from tests.fakes.qwen2512 import Qwen2512Fake

pytestmark = pytest.mark.usefixtures("fast_polling")


# A job as the gateway builds it for this API: one of its five sizes, by name.
SQUARE = {"model_id": "qwen-image-2512", "size_name": "1024*1024", "width": 1024, "height": 1024}


def generate(fake: Qwen2512Fake, **fields):
    job = make_job(**(SQUARE | fields))
    return run(lambda client: adapter_for(fake).generate(job, client))


def test_text_to_image_translates_the_parameters(qwen2512_fake):
    result = generate(
        qwen2512_fake,
        size_name="1024*768",
        width=1024,
        height=768,
        negative_prompt="blurry",
        output_format="webp",
        params={"cfg_scale": 4.0, "callback_url": "https://example.com/hook"},
    )

    [create] = qwen2512_fake.requests_to("generate")
    assert create.headers["authorization"] == f"Bearer {qwen2512_fake.api_key}"
    assert create.json == {
        "prompt": "a lighthouse at dawn",
        "size": "1024*768",  # the size name as it is
        "seed": 7,
        "output_format": "webp",
        "callback_url": "https://example.com/hook",  # unknown here, passed through
    }  # no negative_prompt nor cfg_scale: the API has neither
    polls = qwen2512_fake.requests_to("status")
    assert {poll.query["task_id"] for poll in polls} == {result.request_id}
    [image] = result.images
    assert image.seed == 7
    picture = Image.open(io.BytesIO(httpx.get(image.url).content))
    assert (picture.format, picture.size) == ("WEBP", (1024, 768))


def test_a_size_it_lacks_is_refused_with_the_apis_message(qwen2512_fake):
    with pytest.raises(ProviderRejected, match="'size'") as caught:
        generate(qwen2512_fake, size_name="1183*887")

    assert caught.value.status == 400


def test_formats_it_lacks_are_asked_as_png(qwen2512_fake):
    generate(qwen2512_fake, output_format="avif")

    [create] = qwen2512_fake.requests_to("generate")
    assert create.json["output_format"] == "png"


def test_progress_goes_from_pending_to_in_progress(qwen2512_fake):
    qwen2512_fake.queue_position = 1
    qwen2512_fake.logs = ("working",)
    seen: list[ProviderProgress] = []

    async def on_progress(progress: ProviderProgress) -> None:
        seen.append(progress)

    job = make_job(**SQUARE)
    run(lambda client: adapter_for(qwen2512_fake).generate(job, client, on_progress=on_progress))

    assert seen == [
        ProviderProgress(status=ProgressStatus.QUEUED),
        ProviderProgress(status=ProgressStatus.RUNNING),
    ]


def test_a_failed_task_is_unavailable_with_its_message(qwen2512_fake):
    qwen2512_fake.job_error = "Content policy violation detected"

    with pytest.raises(ProviderUnavailable, match="Content policy violation detected"):
        generate(qwen2512_fake)


def test_a_prompt_over_2000_characters_is_rejected_before_any_call(qwen2512_fake):
    with pytest.raises(ProviderRejected, match="2000"):
        generate(qwen2512_fake, prompt="x" * 2001)

    assert qwen2512_fake.requests == []


def test_an_error_code_inside_a_200_answer_is_an_error(qwen2512_fake):
    qwen2512_fake.fail_next(
        200, body={"code": 400, "message": "Bad Request: 'prompt' is required.", "data": None}
    )

    with pytest.raises(ProviderRejected, match="'prompt' is required") as caught:
        generate(qwen2512_fake)

    assert caught.value.status == 400


def test_unknown_fields_are_rejected_with_the_apis_message(qwen2512_fake):
    with pytest.raises(ProviderRejected, match="'bogus': Extra inputs are not permitted"):
        generate(qwen2512_fake, params={"bogus": True})


def test_an_unknown_task_is_unavailable(qwen2512_fake):
    provider = adapter_for(qwen2512_fake)

    with pytest.raises(ProviderUnavailable) as caught:
        run(lambda client: provider.wait({"task_id": "nope", "seed": 1}, client))

    assert caught.value.status == 404


def test_edits_are_refused_without_a_call(qwen2512_fake):
    with pytest.raises(ProviderUnavailable, match="text only"):
        generate(qwen2512_fake, images=(factories.png_bytes(),))

    assert qwen2512_fake.requests == []
