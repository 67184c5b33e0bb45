"""The OpenAI-compatible adapter against the fake images API, over HTTP."""

import asyncio
import io

import httpx
import pytest
from PIL import Image

from playground.providers.base import ProviderRejected, ProviderUnavailable
from tests import factories
from tests.fakes.fixtures import adapter_for, make_job, run
from tests.fakes.openai import OpenAIFake


def generate(fake: OpenAIFake, **fields):
    job = make_job(**{"model_id": "qwen-image", **fields})
    return run(lambda client: adapter_for(fake).generate(job, client))


def test_generation_sends_json_and_decodes_b64_images(openai_fake):
    result = generate(
        openai_fake,
        width=320,
        height=240,
        n=3,
        negative_prompt="blurry",
        output_format="jpeg",
        params={"cfg_scale": 4.0, "quality": "high"},
    )

    [call] = openai_fake.requests_to("generations")
    assert call.path == "/v1/images/generations"
    assert call.headers["authorization"] == f"Bearer {openai_fake.api_key}"
    assert call.json == {
        "model": "qwen-image",
        "prompt": "a lighthouse at dawn",
        "negative_prompt": "blurry",
        "size": "320x240",  # converted
        "seed": 7,
        "n": 3,
        "output_format": "jpeg",
        "response_format": "b64_json",
        "cfg_scale": 4.0,
        "quality": "high",  # unknown here, passed through
    }
    assert len(result.images) == 3
    for image in result.images:
        picture = Image.open(io.BytesIO(image.data))
        assert (picture.format, picture.size, image.seed) == ("JPEG", (320, 240), 7)


def test_formats_it_lacks_are_asked_as_png(openai_fake):
    generate(openai_fake, output_format="avif")

    [call] = openai_fake.requests_to("generations")
    assert call.json["output_format"] == "png"


def test_one_image_edit_is_a_multipart_image_part(openai_fake):
    source = factories.png_bytes()

    result = generate(openai_fake, model_id="qwen-image-edit", images=(source,), seed=11)

    [call] = openai_fake.requests_to("edits")
    assert call.headers["content-type"].startswith("multipart/form-data")
    [part] = call.parts("image")
    assert (part.data, part.content_type, part.filename) == (source, "image/png", "image-0.png")
    fields = {part.name: part.text for part in call.form if part.filename is None}
    assert fields == {
        "model": "qwen-image-edit",
        "prompt": "a lighthouse at dawn",
        "size": "64x48",
        "seed": "11",
        "n": "1",
        "output_format": "png",
        "response_format": "b64_json",
    }
    assert Image.open(io.BytesIO(result.images[0].data)).size == (64, 48)


def test_several_images_are_image_brackets_parts_with_the_mask(openai_fake):
    first, second = factories.png_bytes(), factories.png_bytes(colour=(0, 0, 255))
    mask = factories.png_bytes(colour=(0, 0, 0))

    generate(openai_fake, model_id="qwen-image-edit-plus", images=(first, second), mask=mask)

    [call] = openai_fake.requests_to("edits")
    assert call.parts("image") == []
    assert [part.data for part in call.parts("image[]")] == [first, second]
    assert [part.data for part in call.parts("mask")] == [mask]


def test_an_upstream_answering_urls_gives_urls(openai_fake):
    url = f"{openai_fake.url}/files/elsewhere.png"
    openai_fake.fail_next(200, body={"created": 1767225600, "data": [{"url": url}]})

    [image] = generate(openai_fake).images

    assert (image.url, image.data) == (url, None)


@pytest.mark.parametrize(
    "body",
    [
        {"created": 1767225600, "data": []},
        {"created": 1767225600},
        {"created": 1767225600, "data": [{"b64_json": "not base64!"}]},
        {"created": 1767225600, "data": [{"revised_prompt": "no image"}]},
    ],
)
def test_answers_without_usable_images_are_unavailable(openai_fake, body):
    openai_fake.fail_next(200, body=body)

    with pytest.raises(ProviderUnavailable):
        generate(openai_fake)


def test_unknown_parameters_are_rejected_with_openais_message(openai_fake):
    with pytest.raises(ProviderRejected, match="Unknown parameter: 'bogus'") as caught:
        generate(openai_fake, params={"bogus": 1})

    assert caught.value.status == 400


def test_a_held_answer_comes_when_the_fake_releases_it(openai_fake):
    openai_fake.hold_jobs()

    async def scenario(client: httpx.AsyncClient):
        job = make_job(model_id="qwen-image")
        task = asyncio.create_task(adapter_for(openai_fake).generate(job, client))
        await asyncio.to_thread(openai_fake.wait_for, lambda: len(openai_fake.jobs) == 1)
        assert not task.done()
        openai_fake.release_jobs()
        return await task

    assert len(run(scenario).images) == 1


def test_a_failed_generation_is_unavailable(openai_fake):
    openai_fake.job_error = "The model crashed"

    with pytest.raises(ProviderUnavailable, match="The model crashed") as caught:
        generate(openai_fake)

    assert caught.value.status == 500


def streamed(fake: OpenAIFake, **fields):
    """A job that asks for previews: the result, and the previews passed on."""
    previews = []

    async def progressed(progress):
        previews.append(progress.preview)

    job = make_job(**{"model_id": "qwen-image", **fields})
    result = run(lambda client: adapter_for(fake).generate(job, client, on_progress=progressed))
    return result, previews


def test_a_job_that_asks_for_previews_is_streamed_and_passes_them_on(openai_fake):
    result, previews = streamed(openai_fake, width=320, height=240, n=2, previews=2)

    [call] = openai_fake.requests_to("generations")
    assert call.headers["accept"] == "text/event-stream"
    assert call.json["stream"] is True
    assert call.json["partial_images"] == 2
    assert [Image.open(io.BytesIO(preview)).size for preview in previews] == [(320, 240)] * 2
    assert len(result.images) == 2
    assert {Image.open(io.BytesIO(image.data)).size for image in result.images} == {(320, 240)}


def test_a_streamed_edit_is_multipart_with_the_stream_fields(openai_fake):
    result, previews = streamed(openai_fake, images=(factories.png_bytes(),), previews=1)

    [call] = openai_fake.requests_to("edits")
    assert call.parts("stream")[0].text == "true"
    assert call.parts("partial_images")[0].text == "1"
    assert len(previews) == 1
    assert len(result.images) == 1


def test_a_job_without_previews_is_not_streamed(openai_fake):
    result, previews = streamed(openai_fake)

    assert "stream" not in openai_fake.requests_to("generations")[0].json
    assert previews == []
    assert len(result.images) == 1


def test_a_stream_refused_before_it_starts_raises_as_a_call_does(openai_fake):
    openai_fake.fail_next(400, message="Invalid prompt.")

    with pytest.raises(ProviderRejected, match="Invalid prompt"):
        streamed(openai_fake, previews=1)
