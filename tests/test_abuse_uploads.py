"""Bad input on purpose, through the API under uvicorn: uploads that are no image, truncated,
decompression bombs, animated, too large or too many, and prompts that are huge or hold NUL
bytes or broken Unicode. Each gets a clear 400 or 413 in OpenAI's envelope, nothing is charged
or stored, and the server answers the next request.

And what decoding uploads may cost: every header is read before any image is decoded, one
edit's pixels are bounded, an account decodes a bounded number of edits at once, and another
user's small generation is not held behind a large edit; through the API and the playground.

(A file that is plainly not an image is in tests/test_api_images.py.)
"""

import base64
import functools
import io
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageFile

from playground.accounts.models import LedgerEntry
from playground.gateway.models import Generation
from tests import factories
from tests.factories import HTMX, run_form

pytestmark = pytest.mark.django_db(transaction=True)

EDIT_MODEL = "qwen-image-edit-plus"  # takes several images
START_MICROS = 1_000_000


# Hostile files, built small and fast.


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int, *, rows: int = 4) -> bytes:
    """A well-formed PNG header of `width` x `height` grey pixels, with only `rows` rows of
    data: a few hundred bytes that would decode into gigabytes."""
    pixels = zlib.compress(b"\x00" * (1 + width) * rows, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def frames(count: int) -> list[Image.Image]:
    return [
        Image.new("RGB", (8, 8), ((n * 7) % 256, (n * 13) % 256, (n * 3) % 256))
        for n in range(count)
    ]


def animated(image_format: str, count: int) -> bytes:
    first, *rest = frames(count)
    out = io.BytesIO()
    first.save(out, format=image_format, save_all=True, append_images=rest, duration=10)
    return out.getvalue()


def truncated_png() -> bytes:
    noisy = Image.effect_noise((256, 256), 64).convert("RGB")  # noise does not compress away
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    return out.getvalue()[: len(out.getvalue()) // 2]


def corrupt_png() -> bytes:
    """Every chunk's checksum is right, so a header check passes; the pixels do not decode."""
    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    noise = bytes((n * 97 + 13) % 256 for n in range(600))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"\x78\x9c" + noise)
        + png_chunk(b"IEND", b"")
    )


BAD_IMAGES = {
    "truncated": truncated_png,
    "decompression bomb (over Pillow's limit)": lambda: png_claiming(60_000, 60_000),
    "decompression bomb (over our pixel cap)": lambda: png_claiming(7_000, 7_000),
    "corrupt pixels behind valid checksums": corrupt_png,
    "GIF with 3000 frames": lambda: animated("GIF", 3000),
    "animated PNG with 3000 frames": lambda: animated("PNG", 3000),
    "animated WebP": lambda: animated("WEBP", 300),
    "a PNG signature and nothing else": lambda: b"\x89PNG\r\n\x1a\n",
    "empty file": lambda: b"",
}


# Fixtures and helpers


@pytest.fixture
def api(asgi_server, api_key):
    with factories.api_client(asgi_server, api_key, timeout=60) as client:
        yield client


@pytest.fixture
def untouched(user, settings):
    """`untouched()` asserts that nothing was created, charged or stored since the fixture ran."""
    media = Path(settings.MEDIA_ROOT)
    entries = LedgerEntry.objects.count()

    def check() -> None:
        assert not Generation.objects.exists()
        assert LedgerEntry.objects.count() == entries
        assert factories.balance_micros(user) == START_MICROS == factories.ledger_sum_micros(user)
        files = [path for path in media.rglob("*") if path.is_file()] if media.exists() else []
        assert files == []

    return check


def assert_refused(response: httpx.Response, status: int, param: str | None = "image") -> dict:
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return error


def assert_still_serving(api: httpx.Client) -> None:
    assert api.get("/models").status_code == 200


def edit(api: httpx.Client, *files: tuple[str, bytes], **fields) -> httpx.Response:
    return api.post(
        "/images/edits",
        data={"model": EDIT_MODEL, "prompt": "make it blue"} | fields,
        files=[("image", (name, data, "image/png")) for name, data in files],
    )


# Uploads


@pytest.mark.parametrize("make", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_a_bad_image_is_a_400_and_costs_nothing(api, untouched, make):
    response = edit(api, ("bad.png", make()))

    error = assert_refused(response, 400)
    assert "image" in error["message"].lower()
    assert_still_serving(api)
    untouched()


@pytest.mark.parametrize("make", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_a_bad_image_by_data_uri_is_a_400_and_costs_nothing(api, untouched, make):
    data_uri = "data:image/png;base64," + base64.b64encode(make()).decode()

    response = api.post(
        "/images/edits", json={"model": EDIT_MODEL, "prompt": "x", "image": [data_uri]}
    )

    assert_refused(response, 400)
    assert_still_serving(api)
    untouched()


def test_a_bad_mask_is_a_400(api, untouched):
    response = api.post(
        "/images/edits",
        data={"model": EDIT_MODEL, "prompt": "x"},
        files=[
            ("image", ("a.png", factories.png_bytes(), "image/png")),
            ("mask", ("mask.png", png_claiming(60_000, 60_000), "image/png")),
        ],
    )

    assert_refused(response, 400, param="mask")
    untouched()


def test_a_100_mb_file_is_a_413(api, untouched):
    big = factories.png_bytes() + bytes(100 * 1024 * 1024)

    response = edit(api, ("big.png", big))

    error = assert_refused(response, 413)
    assert error["code"] == "payload_too_large"
    assert_still_serving(api)
    untouched()


def test_a_100_mb_json_body_is_a_413(api, untouched):
    data_uri = "data:image/png;base64," + "A" * (101 * 1024 * 1024)

    response = api.post(
        "/images/edits",
        content=b'{"prompt": "x", "image": "' + data_uri.encode() + b'"}',
        headers={"Content-Type": "application/json"},
    )

    assert_refused(response, 413, param=None)
    assert_still_serving(api)
    untouched()


def test_a_data_uri_over_the_upload_cap_is_refused(api, untouched, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    data_uri = "data:image/png;base64," + base64.b64encode(bytes(20_000)).decode()

    response = api.post(
        "/images/edits", json={"model": EDIT_MODEL, "prompt": "x", "image": [data_uri]}
    )

    error = assert_refused(response, 400)
    assert "larger than" in error["message"]
    untouched()


@pytest.mark.parametrize("count", [20, 150])
def test_too_many_files_is_a_400(api, untouched, count):
    png = factories.png_bytes(8, 8)

    response = edit(api, *((f"{n}.png", png) for n in range(count)))

    error = assert_refused(response, 400)
    assert "too many" in error["message"].lower()
    assert_still_serving(api)
    untouched()


def test_too_many_image_urls_is_a_400(api, untouched):
    data_uri = "data:image/png;base64," + base64.b64encode(factories.png_bytes(8, 8)).decode()

    response = api.post(
        "/images/edits", json={"model": EDIT_MODEL, "prompt": "x", "image": [data_uri] * 20}
    )

    error = assert_refused(response, 400)
    assert "too many" in error["message"].lower()
    untouched()


def test_a_multipart_body_without_a_boundary_is_a_400(api, untouched):
    response = api.post(
        "/images/edits", content=b"garbage", headers={"Content-Type": "multipart/form-data"}
    )

    assert_refused(response, 400, param=None)
    untouched()


def test_thousands_of_form_fields_is_a_400(api, untouched):
    fields = {f"field{n}": "1" for n in range(2000)}

    response = edit(api, ("a.png", factories.png_bytes()), **fields)

    assert_refused(response, 400, param=None)
    untouched()


def test_one_bad_image_among_good_ones_stores_nothing(api, untouched):
    response = edit(api, ("good.png", factories.png_bytes()), ("bad.png", truncated_png()))

    assert_refused(response, 400)
    untouched()


BIG = (6000, 6600)  # 39.6 megapixels, just under the 40 megapixels one image may have
HELD = (1000, 1000)  # the size whose decoding `held_decodes` stops
TEXT = b"These are my notes, not an image.\n" * 100


@functools.cache
def png_of(size: tuple[int, int]) -> bytes:
    """A real PNG of `size` grey pixels: a few tens of kilobytes that take a while to decode."""
    out = io.BytesIO()
    Image.new("L", size).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def decodes(monkeypatch):
    """The sizes of the images decoded since the fixture ran, in order."""
    sizes = []
    load = ImageFile.ImageFile.load

    def counted(image):
        sizes.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted)
    return sizes


class Gate:
    def __init__(self):
        self.entered = threading.Event()
        self.opened = threading.Event()

    def wait_entered(self) -> None:
        assert self.entered.wait(timeout=20), "no decode of a held image started"


@pytest.fixture
def held_decodes(monkeypatch):
    """Decoding a `HELD`-size image waits until `gate.opened` is set (as a slow decode of a
    large image would take its time); `gate.entered` is set when one starts."""
    gate = Gate()
    load = ImageFile.ImageFile.load

    def held(image):
        if image.size == HELD:
            gate.entered.set()
            gate.opened.wait(timeout=30)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", held)
    yield gate
    gate.opened.set()


@pytest.fixture
def background():
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


@pytest.fixture
def other_api(asgi_server, catalog):
    """An API client of another user."""
    other = factories.user_with_account(username="other")
    key = factories.raw_api_key(user=other)
    with factories.api_client(asgi_server, key, timeout=20) as client:
        yield client


def big_edit_files(text_at: int) -> list[tuple[str, bytes]]:
    files = [(f"{n}.png", png_of(BIG)) for n in range(15)]
    files.insert(text_at, ("notes.png", TEXT))
    return files


# Decoding: refused from the headers


@pytest.mark.parametrize("text_at", [0, 8, 15], ids=["first", "middle", "last"])
def test_fifteen_large_images_and_a_text_file_are_refused_before_any_decode(
    api, untouched, decodes, text_at
):
    response = edit(api, *big_edit_files(text_at))

    error = assert_refused(response, 400, param="image")
    assert "not a readable PNG, JPEG or WebP image" in error["message"]
    assert decodes == []
    untouched()


def test_through_the_sdk_the_edit_is_a_bad_request_naming_image(
    asgi_server, api_key, untouched, decodes
):
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_key, max_retries=0)

    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(model=EDIT_MODEL, prompt="make it blue", image=big_edit_files(8))

    assert refused.value.param == "image"
    assert decodes == []
    untouched()


def test_a_bad_mask_refuses_the_edit_before_its_images_are_decoded(api, untouched, decodes):
    response = api.post(
        "/images/edits",
        data={"model": EDIT_MODEL, "prompt": "x"},
        files=[
            *[("image[]", (f"{n}.png", png_of(BIG), "image/png")) for n in range(2)],
            ("mask", ("mask.png", factories.png_bytes(), "image/png")),
        ],
    )

    error = assert_refused(response, 400, param="mask")
    assert "without an alpha channel" in error["message"]
    assert decodes == []
    untouched()


def test_an_edit_the_catalog_refuses_is_refused_before_any_decode(api, untouched, decodes):
    response = edit(api, ("a.png", png_of(BIG)), ("b.png", png_of(BIG)), model="qwen-image-edit")

    error = assert_refused(response, 400, param="image")
    assert "takes at most 1 input image (the request has 2)" in error["message"]
    assert decodes == []
    untouched()


def test_the_pixels_of_one_edit_together_are_bounded(api, untouched, decodes, settings):
    settings.MAX_EDIT_PIXELS = 80_000_000

    response = edit(api, ("a.png", png_of(BIG)), ("b.png", png_of(BIG)), ("c.png", png_of(BIG)))

    error = assert_refused(response, 400, param="image")
    assert "118,800,000 pixels together; at most 80,000,000" in error["message"]
    assert decodes == []
    untouched()


def test_within_the_bounds_each_image_is_checked_and_the_edit_made(api, user, decodes, settings):
    settings.MAX_EDIT_PIXELS = 80_000_000

    response = edit(api, ("a.png", png_of(BIG)), ("b.png", factories.png_bytes()))

    assert response.status_code == 200, response.text[:300]
    assert decodes[:2] == [BIG, (64, 48)]  # checked in order; then the job reads them
    assert Generation.objects.get(user=user).status == Generation.Status.SUCCEEDED


# Decoding at once


def test_an_account_decodes_a_bounded_number_of_edits_at_once(
    api, user, settings, held_decodes, background
):
    settings.MAX_DECODES_PER_USER = 1
    first = background.submit(edit, api, ("held.png", png_of(HELD)))
    held_decodes.wait_entered()

    response = edit(api, ("small.png", factories.png_bytes()))

    assert response.status_code == 429, response.text[:300]
    assert response.headers["Retry-After"] == str(settings.DECODE_RETRY_AFTER_SECONDS)
    error = response.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert "1 edits at a time" in error["message"]
    assert not Generation.objects.exists()

    held_decodes.opened.set()
    assert first.result(timeout=30).status_code == 200
    assert edit(api, ("small.png", factories.png_bytes())).status_code == 200
    assert Generation.objects.filter(user=user).count() == 2
    factories.assert_ledger_holds()


def test_an_edit_refused_while_decoding_gives_its_slot_back(api, user, settings):
    settings.MAX_DECODES_PER_USER = 1

    assert_refused(edit(api, ("bad.png", truncated_png())), 400)

    assert edit(api, ("good.png", factories.png_bytes())).status_code == 200
    assert Generation.objects.filter(user=user).count() == 1


def test_another_users_generation_is_not_held_behind_a_decoding_edit(
    api, other_api, held_decodes, background
):
    first = background.submit(edit, api, ("held.png", png_of(HELD)))
    held_decodes.wait_entered()

    response = other_api.post(
        "/images/generations", json={"model": "qwen-image", "prompt": "a kite", "size": "256x256"}
    )

    assert response.status_code == 200, response.text[:300]
    assert not first.done()
    held_decodes.opened.set()
    assert first.result(timeout=30).status_code == 200


# The playground


def test_the_playground_refuses_large_images_and_a_text_file_before_any_decode(
    catalog, user, decodes
):
    signed_in = factories.signed_in_client(user)
    uploads = [
        SimpleUploadedFile(name, data, content_type="image/png")
        for name, data in big_edit_files(text_at=8)
    ]

    response = signed_in.post(
        reverse("studio:generate"),
        run_form(model=f"{EDIT_MODEL}:edit", prompt="make it blue", images=uploads),
        headers=HTMX,
    )

    assert "not a readable PNG, JPEG or WebP image" in response.text
    assert decodes == []
    assert not Generation.objects.exists()


def test_the_playground_shares_the_accounts_decoding_bound_with_the_api(
    api, user, settings, held_decodes, background
):
    settings.MAX_DECODES_PER_USER = 1
    first = background.submit(edit, api, ("held.png", png_of(HELD)))
    held_decodes.wait_entered()

    response = factories.signed_in_client(user).post(
        reverse("studio:generate"),
        run_form(
            model=f"{EDIT_MODEL}:edit", prompt="make it blue", images=[factories.png_upload()]
        ),
        headers=HTMX,
    )

    assert "Too many edits with uploads at once" in response.text
    assert "Retry in 2 s." in response.text
    held_decodes.opened.set()
    assert first.result(timeout=30).status_code == 200
    assert Generation.objects.filter(user=user).count() == 1


# Prompts


PROMPTS = {
    "huge": ("x" * 8001, "prompt"),
    "ten megabytes": ("x" * (10 * 1024 * 1024), "prompt"),
    "NUL byte": ("a lighthouse\x00 at dawn", "prompt"),
    "lone surrogate": ("a lighthouse \ud800 at dawn", "prompt"),
    "blank": (" \t\n ", "prompt"),
}


@pytest.mark.parametrize(("prompt", "param"), PROMPTS.values(), ids=PROMPTS.keys())
def test_a_bad_prompt_is_refused_and_costs_nothing(api, untouched, prompt, param):
    body = '{"model": "qwen-image", "size": "256x256", "prompt": ' + _json_string(prompt) + "}"

    response = api.post(
        "/images/generations",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert_refused(response, 400, param=param)
    assert_still_serving(api)
    untouched()


FORM_PROMPTS = {name: value for name, value in PROMPTS.items() if name != "lone surrogate"}


@pytest.mark.parametrize(("prompt", "param"), FORM_PROMPTS.values(), ids=FORM_PROMPTS.keys())
def test_a_bad_prompt_in_a_form_is_refused(api, untouched, prompt, param):
    response = api.post(
        "/images/edits",
        content=_form(prompt.encode(), factories.png_bytes()),
        headers={"Content-Type": "multipart/form-data; boundary=BOUNDARY"},
    )

    assert_refused(response, 400, param=param)
    assert_still_serving(api)
    untouched()


def test_bytes_that_are_not_utf8_in_a_form_are_read_as_replacement_characters(api, user):
    response = api.post(
        "/images/edits",
        content=_form(b"a lighthouse \xff\xfe at dawn", factories.png_bytes()),
        headers={"Content-Type": "multipart/form-data; boundary=BOUNDARY"},
    )

    assert response.status_code == 200, response.text
    assert Generation.objects.get(user=user).prompt == "a lighthouse \ufffd\ufffd at dawn"
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)


def test_odd_but_valid_unicode_is_drawn_and_charged_normally(api, user):
    prompt = "‮ a lighthouse ﻿ e\u0301 🌊 at dawn 灯台 ‏"

    response = api.post(
        "/images/generations", json={"model": "qwen-image", "prompt": prompt, "size": "256x256"}
    )

    assert response.status_code == 200, response.text
    generation = Generation.objects.get(user=user)
    assert generation.prompt == prompt
    assert factories.balance_micros(user) == START_MICROS - generation.cost_micros
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)


def _json_string(text: str) -> str:
    """`text` as a JSON string literal, lone surrogates escaped as a client could send them."""
    return '"' + "".join(_escape(ch) for ch in text) + '"'


def _escape(ch: str) -> str:
    if ch in '"\\' or ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF:
        return f"\\u{ord(ch):04x}"
    return ch


def _form(prompt: bytes, image: bytes) -> bytes:
    """A multipart body by hand, so the prompt's bytes go out exactly as given."""
    return (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="model"\r\n\r\n' + EDIT_MODEL.encode() + b"\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="prompt"\r\n\r\n' + prompt + b"\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="image"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + image + b"\r\n"
        b"--BOUNDARY--\r\n"
    )
