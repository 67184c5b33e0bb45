"""Masks on edits, as OpenAI's: a PNG with the first image's pixels whose fully transparent
pixels mark where to edit. Checked once for the API and the playground; sent to a provider that
takes one (an OpenAI-compatible upstream), composited into the input by the gateway for the
others (fal, Replicate, the demo). The playground's brush is in test_browser_playground.py."""

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


def noise(size=SIZE) -> Image.Image:
    """A picture whose every pixel differs from its neighbours, so that kept pixels are told
    from resized, blended or shifted ones."""
    return Image.merge("RGB", [Image.effect_noise(size, 90 + 20 * band) for band in range(3)])


def colours(image: Image.Image) -> set:
    return {colour for _, colour in image.convert("RGB").getcolors(image.width * image.height)}


def assert_edited_only_in(result: Image.Image, original: Image.Image, box) -> None:
    """`result` has `original`'s pixels exactly outside `box`, and other pixels inside it."""
    result, original = result.convert("RGB"), original.convert("RGB")
    assert result.size == original.size
    expected = original.copy()
    expected.paste(result.crop(box), box[:2])
    assert result.tobytes() == expected.tobytes()
    assert result.crop(box).tobytes() != original.crop(box).tobytes()


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
    assert images.read_input(mask, mask_for=FIRST).extension == "png"


BAD_MASKS = {
    "wrong size": (factories.mask_png(32, 32, painted=(0, 0, 8, 8)), "the mask is 32x32"),
    "JPEG": (encoded(Image.new("RGB", SIZE), "JPEG"), "the mask is a JPEG image"),
    "RGB PNG": (encoded(Image.new("RGB", SIZE)), r"a PNG without an alpha channel \(RGB\)"),
    "WebP with alpha": (encoded(Image.new("RGBA", SIZE), "WEBP"), "the mask is a WEBP image"),
}


@pytest.mark.parametrize(("mask", "reason"), BAD_MASKS.values(), ids=BAD_MASKS.keys())
def test_anything_else_is_refused_with_the_reason(mask, reason):
    with pytest.raises(images.CorruptImage, match=reason):
        images.read_input(mask, mask_for=FIRST)


# The compositing, for providers that take no mask


@pytest.mark.parametrize("mask", [factories.mask_png(), palette_mask()], ids=["RGBA", "tRNS"])
def test_composite_takes_the_edit_only_where_the_mask_is_fully_transparent(mask):
    original = noise()
    edited = Image.new("RGB", SIZE, (0, 0, 255))

    result = opened(images.composite(encoded(edited), original=encoded(original), mask=mask))

    assert result.format == "PNG"
    assert_edited_only_in(result, original, PAINTED)
    assert colours(result.crop(PAINTED)) == {(0, 0, 255)}


def test_composite_keeps_pixels_that_are_only_partly_transparent():
    original = noise()
    mask = Image.new("RGBA", SIZE, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), PAINTED)
    mask.paste((0, 0, 0, 1), (30, 8, 60, 40))  # nearly transparent, but not fully: kept

    result = opened(
        images.composite(
            encoded(Image.new("RGB", SIZE)), original=encoded(original), mask=encoded(mask)
        )
    )

    assert_edited_only_in(result, original, PAINTED)


def test_composite_resizes_an_edit_of_another_size_to_the_input():
    original = noise()

    result = opened(
        images.composite(
            encoded(Image.new("RGB", (30, 30), (0, 0, 255))),
            original=encoded(original),
            mask=factories.mask_png(),
        )
    )

    assert result.size == SIZE
    assert_edited_only_in(result, original, PAINTED)
    assert colours(result.crop(PAINTED)) == {(0, 0, 255)}


def test_a_masked_result_is_stored_at_the_inputs_pixels_whatever_the_route_shrinks_to():
    original = noise()
    masked = (
        images.store(encoded(original), extension="png", folder="inputs"),
        images.store(factories.mask_png(), extension="png", folder="inputs"),
    )
    edited = encoded(Image.new("RGB", (128, 128), (0, 0, 255)))

    [stored] = images.convert_and_store([(edited, 7)], "png", None, (32, 32), masked)

    assert (stored.image.width, stored.image.height) == SIZE
    assert_edited_only_in(opened(images.read(stored.name)), original, PAINTED)


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
    inside_the_network = json_edit(
        live_server,
        api_key,
        prompt="x",
        image=data_url(factories.png_bytes()),
        mask=f"{live_server.url}/healthz",
    )

    assert on_a_generation.value.body["param"] == "mask"
    assert without_image.status_code == 400
    assert without_image.json()["error"]["param"] == "image"
    assert inside_the_network.status_code == 400
    assert inside_the_network.json()["error"]["param"] == "mask"
    assert not Generation.objects.exists()


@on_a_live_server
def test_a_masked_edit_on_the_demo_changes_only_the_transparent_area(client):
    original = noise()

    result, generation = masked_edit(client, encoded(original), factories.mask_png())

    assert_edited_only_in(result, original, PAINTED)
    assert generation.provider == "demo"
    assert images.read(generation.params["inputs"]["mask"]) == factories.mask_png()


@on_a_live_server
def test_a_json_edit_takes_the_mask_as_a_data_url(live_server, api_key):
    original = noise()

    response = json_edit(
        live_server,
        api_key,
        prompt="a window",
        image=data_url(encoded(original)),
        mask={"image_url": data_url(factories.mask_png())},
        response_format="b64_json",
    )

    assert response.status_code == 200, response.text
    result = opened(base64.b64decode(response.json()["data"][0]["b64_json"]))
    assert_edited_only_in(result, original, PAINTED)


@on_a_live_server
def test_an_openai_compatible_upstream_gets_the_mask_and_its_result_is_kept_as_it_is(
    client, openai_fake, provider_env
):
    provider_env(openai_fake)
    original = noise()

    result, generation = masked_edit(client, encoded(original), factories.mask_png())

    [call] = openai_fake.requests_to("edits")
    assert [part.data for part in call.parts("mask")] == [factories.mask_png()]
    assert generation.provider == "openai"
    # The fake's one-colour picture at the size the gateway asked, not composited.
    assert result.size == (generation.width, generation.height) != SIZE
    assert len(colours(result)) == 1


@on_a_live_server
def test_fal_gets_no_mask_and_its_result_is_composited_at_the_inputs_pixels(client, fal):
    original = noise()

    result, generation = masked_edit(client, encoded(original), factories.mask_png(), size="64x64")

    body = fal.requests_to("submit")[-1].json
    assert "mask" not in body
    assert body["image_size"] == {"width": 64, "height": 64}
    assert generation.provider == "fal"
    assert (generation.width, generation.height) == SIZE
    assert_edited_only_in(result, original, PAINTED)
    assert len(colours(result.crop(PAINTED))) == 1  # fal's one-colour picture, resized


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def json_edit(live_server, api_key: str, **fields) -> httpx.Response:
    """An edit sent as JSON (image and mask as URLs) on the wire."""
    return httpx.post(
        f"{live_server.url}/v1/images/edits",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": EDIT_MODEL, **fields},
        timeout=30,
    )


@on_a_live_server
def test_a_streamed_masked_edit_shows_its_previews_composited_too(asgi_server, api_key):
    streaming = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_key, max_retries=0)
    original = noise()

    events = list(
        streaming.images.edit(
            model=EDIT_MODEL,
            image=("photo.png", encoded(original), "image/png"),
            mask=("mask.png", factories.mask_png(), "image/png"),
            prompt="a window where the mask is painted",
            stream=True,
            partial_images=2,
        )
    )

    assert [event.type for event in events] == factories.event_types("image_edit", partials=2)
    for event in events:  # each as it will be handed back: the input's pixels outside the mask
        assert event.size == f"{original.width}x{original.height}"
        assert_edited_only_in(opened(base64.b64decode(event.b64_json)), original, PAINTED)
