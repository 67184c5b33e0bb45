"""Masks on edits, as OpenAI's: a PNG with the first image's pixels whose fully transparent
pixels mark where to edit, checked once for the API and the playground."""

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from playground.gateway import images
from playground.gateway.models import Generation
from tests import factories

SIZE = (64, 48)  # of the input image, and of `factories.mask_png`
PAINTED = (8, 8, 24, 20)  # the box `factories.mask_png` makes transparent
EDIT_MODEL = "qwen-image-edit"


def encoded(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def palette_mask() -> bytes:
    """`factories.mask_png`'s mask as a palette PNG whose colour 0 is transparent (tRNS)."""
    mask = Image.new("P", SIZE, 1)
    mask.paste(0, PAINTED)
    return encoded(mask, transparency=0)


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


# What a mask must be


FIRST = images.InputImage("png", *SIZE)


@pytest.mark.parametrize(
    "mask",
    [
        factories.mask_png(),
        encoded(Image.new("LA", SIZE, (0, 255))),
        palette_mask(),
        encoded(Image.new("RGB", SIZE, (1, 2, 3)), transparency=(1, 2, 3)),
    ],
    ids=["RGBA", "LA", "palette with tRNS", "RGB with tRNS"],
)
def test_a_png_of_the_first_images_pixels_with_transparency_is_a_mask(mask):
    assert images.check_input(mask, mask_for=FIRST).extension == "png"


BAD_MASKS = {
    "wrong size": (factories.mask_png(32, 32, painted=(0, 0, 8, 8)), "the mask is 32x32"),
    "JPEG": (encoded(Image.new("RGB", SIZE), "JPEG"), "the mask is a JPEG image"),
    "RGB PNG": (encoded(Image.new("RGB", SIZE)), r"a PNG without an alpha channel \(RGB\)"),
    "WebP with alpha": (encoded(Image.new("RGBA", SIZE), "WEBP"), "the mask is a WEBP image"),
}


@pytest.mark.parametrize(("mask", "reason"), BAD_MASKS.values(), ids=BAD_MASKS.keys())
def test_anything_else_is_refused_with_the_reason(mask, reason):
    with pytest.raises(images.CorruptImage, match=reason):
        images.check_input(mask, mask_for=FIRST)


# Through the API

on_a_live_server = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, api_key):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)


def masked_edit(client: openai.OpenAI, original: bytes, mask: bytes, **options):
    raw = client.images.with_raw_response.edit(
        model=EDIT_MODEL,
        image=("photo.png", original, "image/png"),
        mask=("mask.png", mask, "image/png"),
        prompt="a window where the mask is painted",
        response_format="b64_json",
        **options,
    )
    result = opened(base64.b64decode(raw.parse().data[0].b64_json))
    return result, Generation.objects.get(pk=raw.headers["x-generation-id"])


@on_a_live_server
@pytest.mark.parametrize(("mask", "reason"), list(BAD_MASKS.values())[:3], ids=list(BAD_MASKS)[:3])
def test_a_mask_that_is_not_a_fitting_png_with_alpha_is_a_400_naming_mask(
    client, user, mask, reason
):
    with pytest.raises(openai.BadRequestError) as caught:
        masked_edit(client, factories.png_bytes(*SIZE), mask)

    assert caught.value.body["param"] == "mask"
    assert caught.value.body["message"].startswith("Invalid 'mask': ")
    assert not Generation.objects.exists()
    assert factories.balance_micros(user) == factories.START


@on_a_live_server
def test_a_mask_without_an_edit_is_a_400(client, live_server, api_key):
    with pytest.raises(openai.BadRequestError) as on_a_generation:
        client.images.generate(
            model="qwen-image", prompt="x", extra_body={"mask": "https://example.com/mask.png"}
        )
    without_image = httpx.post(
        f"{live_server.url}/v1/images/edits",
        headers={"Authorization": f"Bearer {api_key}"},
        data={"model": EDIT_MODEL, "prompt": "x"},
        files=[("mask", ("mask.png", factories.mask_png(), "image/png"))],
    )
    inside_the_network = httpx.post(
        f"{live_server.url}/v1/images/edits",
        headers={"Authorization": f"Bearer {api_key}"},
        json={
            "model": EDIT_MODEL,
            "prompt": "x",
            "image": "data:image/png;base64," + base64.b64encode(factories.png_bytes()).decode(),
            "mask": f"{live_server.url}/healthz",
        },
    )

    assert on_a_generation.value.body["param"] == "mask"
    assert without_image.status_code == 400
    assert without_image.json()["error"]["param"] == "image"
    assert inside_the_network.status_code == 400
    assert inside_the_network.json()["error"]["param"] == "mask"
    assert not Generation.objects.exists()
