"""Input images over an adapter's `inline_max_bytes` go through the provider's file upload (fal's
storage, Replicate's files API) and the job names them by URL; small ones stay data URIs."""

import io
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from PIL import Image

from playground.gateway.models import Generation
from playground.providers.base import ProviderRejected, ProviderUnavailable
from playground.providers.fal import FalProvider
from playground.providers.replicate import ReplicateProvider
from tests import factories
from tests.fakes.fal import FalFake
from tests.fakes.fixtures import adapter_for, make_job, run
from tests.fakes.replicate import ReplicateFake
from tests.fakes.schema import input_shape_kept
from tests.fakes.server import FakeServer

pytestmark = pytest.mark.usefixtures("fast_polling")

LARGE = (384, 288)  # noise at this size is about 330 KB as PNG, over both thresholds


def noisy_png(width: int = LARGE[0], height: int = LARGE[1]) -> bytes:
    """A PNG of random pixels: it does not compress, so its size follows its pixel count."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def picture_size(url: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(httpx.get(url).content)).size


def fal_edit(fake: FalFake, *images: bytes, model_id="fal-ai/qwen-image-edit", adapter=None):
    adapter = adapter or adapter_for(fake)
    job = make_job(model_id=model_id, images=images, size_name="", image_list=len(images) > 1)
    return run(lambda client: adapter.generate(job, client))


def replicate_edit(fake: ReplicateFake, *images: bytes, model_id="qwen/qwen-image-edit"):
    """An edit that keeps the input's shape: qwen-image-edit takes no size at all, edit-plus
    takes aspect_ratio=match_input_image (as the catalog's capabilities say)."""
    job = make_job(
        model_id=model_id,
        images=images,
        size_name="match_input_image" if model_id == "qwen/qwen-image-edit-plus" else "",
        image_list=len(images) > 1,
    )
    return run(lambda client: adapter_for(fake).generate(job, client))


def assert_key_in_no_url(fake: FakeServer) -> None:
    for request in fake.requests:
        assert fake.api_key not in request.path
        assert fake.api_key not in str(request.query)
    assert not any(fake.api_key in url for url in fake.inputs)


def test_the_thresholds_are_256_kib():
    assert FalProvider.inline_max_bytes == ReplicateProvider.inline_max_bytes == 256 * 1024
    assert len(noisy_png()) > 256 * 1024


# fal


def test_fal_sends_a_small_image_as_a_data_uri(fal_fake):
    fal_edit(fal_fake, factories.png_bytes())

    [submit] = fal_fake.requests_to("submit")
    assert submit.json["image_url"].startswith("data:image/png;base64,")
    assert fal_fake.requests_to("initiate") == []


def test_fal_uploads_a_large_image_and_submits_its_file_url(fal, provider_env):
    image = noisy_png()
    adapter = FalProvider.from_environment()  # FAL_STORAGE_BASE_URL points at the fake
    assert adapter.storage_url == fal.storage_url

    result = fal_edit(fal, image, adapter=adapter)

    [initiate] = fal.requests_to("initiate")
    assert initiate.path == "/rest/storage/upload/initiate"
    assert initiate.query == {"storage_type": "fal-cdn-v3"}
    assert initiate.headers["authorization"] == f"Key {fal.api_key}"
    assert initiate.json == {"content_type": "image/png", "file_name": "input.png"}
    assert initiate.headers["x-fal-object-lifecycle"] == '{"expiration_duration_seconds": 86400}'
    [upload] = fal.requests_to("upload")
    assert "authorization" not in upload.headers  # a signed URL: the key stays with fal's API
    assert upload.headers["content-type"] == "image/png"
    assert upload.body == image
    [submit] = fal.requests_to("submit")
    [file_url] = fal.inputs
    assert submit.json["image_url"] == file_url
    assert httpx.get(file_url).content == image
    assert picture_size(result.images[0].url) == input_shape_kept(LARGE)  # read the upload
    assert_key_in_no_url(fal)


def test_fal_uploads_several_large_images_at_once_and_keeps_their_order(fal_fake):
    large = [noisy_png() for _ in range(3)]
    small = factories.png_bytes()
    fal_fake.hang_next(times=3, on="initiate")

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            fal_edit,
            fal_fake,
            large[0],
            small,
            large[1],
            large[2],
            model_id="fal-ai/qwen-image-edit-plus",
        )
        # All three are waiting on fal at the same time: none waited for another to finish.
        fal_fake.wait_for(lambda: len(fal_fake.requests_to("initiate")) == 3)
        fal_fake.release()
        future.result(timeout=10)

    [submit] = fal_fake.requests_to("submit")
    urls = submit.json["image_urls"]
    assert urls[1].startswith("data:image/png;base64,")
    assert [fal_fake.inputs[url][1] for url in (urls[0], urls[2], urls[3])] == large
    assert_key_in_no_url(fal_fake)


@pytest.mark.parametrize("route", ["initiate", "upload"])
def test_a_failed_fal_upload_is_unavailable_and_nothing_is_submitted(fal_fake, route):
    fal_fake.fail_next(503, on=route)

    with pytest.raises(ProviderUnavailable, match="503"):
        fal_edit(fal_fake, noisy_png())

    assert fal_fake.requests_to("submit") == []


def test_a_signed_upload_url_refused_is_not_blamed_on_the_key(fal_fake):
    fal_fake.fail_next(403, on="upload")

    with pytest.raises(ProviderUnavailable, match="refused its own signed URL"):
        fal_edit(fal_fake, noisy_png())


def test_a_fal_upload_answer_without_urls_is_unavailable(fal_fake):
    fal_fake.fail_next(200, on="initiate", body={"file_url": "https://v3.fal.media/x.png"})

    with pytest.raises(ProviderUnavailable, match="upload_url"):
        fal_edit(fal_fake, noisy_png())


def test_the_fal_storage_url_defaults_to_fals_rest_host(monkeypatch):
    monkeypatch.setenv("FAL_KEY", "k")
    monkeypatch.delenv("FAL_STORAGE_BASE_URL", raising=False)

    assert FalProvider.from_environment().storage_url == "https://rest.fal.ai"


# Replicate


def test_replicate_sends_a_small_image_as_a_data_uri(replicate_fake):
    replicate_edit(replicate_fake, factories.png_bytes())

    [create] = replicate_fake.requests_to("create")
    assert create.json["input"]["image"].startswith("data:image/png;base64,")
    assert replicate_fake.requests_to("upload") == []


def test_replicate_uploads_a_large_image_and_sends_its_url(replicate_fake):
    image = noisy_png()

    result = replicate_edit(replicate_fake, image)

    [upload] = replicate_fake.requests_to("upload")
    assert upload.headers["authorization"] == f"Bearer {replicate_fake.api_key}"
    [content] = upload.parts("content")
    assert (content.filename, content.content_type, content.data) == (
        "input.png",
        "image/png",
        image,
    )
    [create] = replicate_fake.requests_to("create")
    [file_url] = replicate_fake.inputs
    assert create.json["input"]["image"] == file_url
    assert file_url.startswith(f"{replicate_fake.url}/v1/files/")
    assert picture_size(result.images[0].url) == input_shape_kept(LARGE)  # read the upload
    auth = {"Authorization": f"Bearer {replicate_fake.api_key}"}
    assert httpx.get(file_url, headers=auth).content == image
    assert httpx.get(file_url).status_code == 401
    assert_key_in_no_url(replicate_fake)


def test_replicate_uploads_several_large_images_at_once(replicate_fake):
    images = [noisy_png(), noisy_png()]
    replicate_fake.hang_next(times=2, on="upload")

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            replicate_edit, replicate_fake, *images, model_id="qwen/qwen-image-edit-plus"
        )
        replicate_fake.wait_for(lambda: len(replicate_fake.requests_to("upload")) == 2)
        replicate_fake.release()
        future.result(timeout=10)

    [create] = replicate_fake.requests_to("create")
    urls = create.json["input"]["image"]
    assert [replicate_fake.inputs[url][1] for url in urls] == images


def test_the_replicate_fake_refuses_an_upload_without_content(replicate_fake):
    response = httpx.post(
        f"{replicate_fake.url}/v1/files",
        headers={"Authorization": f"Bearer {replicate_fake.api_key}"},
        files={"file": ("input.png", b"x", "image/png")},
    )

    assert response.status_code == 400
    assert replicate_fake.inputs == {}


@pytest.mark.parametrize(("status", "error"), [(500, ProviderUnavailable), (422, ProviderRejected)])
def test_a_failed_replicate_upload_maps_like_any_call(replicate_fake, status, error):
    replicate_fake.fail_next(status, on="upload")

    with pytest.raises(error, match=str(status)):
        replicate_edit(replicate_fake, noisy_png())

    assert replicate_fake.requests_to("create") == []


def test_an_image_that_is_no_picture_is_rejected_before_any_upload(replicate_fake):
    with pytest.raises(ProviderRejected):
        replicate_edit(replicate_fake, b"\x00" * (300 * 1024))

    assert replicate_fake.requests == []


# Through the gateway


@pytest.mark.django_db(transaction=True)
def test_a_failed_upload_fails_over_and_the_next_provider_uploads_too(
    live_server, api_key, fal, replicate
):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)
    image = noisy_png()
    replicate.fail_next(503, times=10, on="upload")

    raw = client.images.with_raw_response.edit(
        model="qwen-image-edit", image=("big.png", image, "image/png"), prompt="sharpen it"
    )

    generation = Generation.objects.get(pk=raw.headers["x-generation-id"])
    assert [attempt["provider"] for attempt in generation.attempts] == ["replicate", "fal"]
    assert [attempt["status"] for attempt in generation.attempts] == [503, 200]
    assert generation.status == Generation.Status.SUCCEEDED
    assert replicate.requests_to("create") == []
    [file_url] = fal.inputs
    assert fal.inputs[file_url][1] == image
    assert fal.requests_to("submit")[-1].json["image_url"] == file_url
    for fake in (fal, replicate):
        assert_key_in_no_url(fake)
        assert not any(api_key in request.path for request in fake.requests)
