"""Result images: format conversion with Pillow and storage through Django's storage API.

Both are blocking (CPU or file/S3 I/O); callers on the event loop run them in a thread.
"""

import asyncio
import functools
import io
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

# Pillow's format names and the content types they are served with.
FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "gif": ("GIF", "image/gif"),
    "webp": ("WEBP", "image/webp"),
    "avif": ("AVIF", "image/avif"),
}
LOSSY = {"jpeg", "webp", "avif"}
DEFAULT_QUALITY = 90
Image.MAX_IMAGE_PIXELS = 64 * 1024 * 1024


# Input images: Pillow's format names, with the extension they are stored under, and the
# content types a client declares for them.
INPUT_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
INPUT_CONTENT_TYPES = tuple(FORMATS[extension][1] for extension in INPUT_FORMATS.values())
MAX_INPUT_PIXELS = 40_000_000


# Image work of a process (converting, compositing, storing results) runs on this one thread:
# Pillow releases the GIL while it codes, so the thread keeps one core busy and leaves the event
# loop the other, and cheap requests stay fast while images convert. (Like the pooled HTTP
# clients, a piece of process-wide infrastructure, not state.)
_image_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="images")
# Uploaded images are decoded (and stored) on a thread of their own, one image at a time: an
# edit's large uploads never queue ahead of the conversions other requests wait for on the image
# thread, and another edit waits behind at most one image of each edit being decoded.
_input_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inputs")


async def off_loop(function, /, *args):
    """Run `function(*args)` on the image thread."""
    return await asyncio.get_running_loop().run_in_executor(_image_thread, function, *args)


async def off_loop_input(function, /, *args):
    """Run `function(*args)` on the uploads' thread."""
    return await asyncio.get_running_loop().run_in_executor(_input_thread, function, *args)


class CorruptImage(ValueError):
    pass


@dataclass(frozen=True)
class InputImage:
    extension: str  # "png", "jpeg" or "webp"
    width: int
    height: int


def read_input(data: bytes, *, mask_for: InputImage | None = None) -> InputImage:
    """The format and pixels of an uploaded image, read from its header with nothing decoded
    (milliseconds, whatever the pixels), or `CorruptImage` saying why not.

    With `mask_for` (the first input image), the image is that image's mask, as OpenAI's edits
    take one: a PNG of the same pixels with an alpha channel (or a tRNS transparent colour),
    whose fully transparent pixels mark where to edit. That too is read from the header.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if mask_for is not None:
                _check_mask_header(image, mask_for)
            if image.format not in INPUT_FORMATS:
                raise CorruptImage(f"{image.format} images are not accepted; use PNG, JPEG or WebP")
            width, height = image.size
            if width * height > MAX_INPUT_PIXELS:
                raise CorruptImage(
                    f"the image is {width}x{height}; at most {MAX_INPUT_PIXELS:,} pixels"
                )
            if getattr(image, "n_frames", 1) > 1:
                raise CorruptImage("animated images are not accepted; send a still image")
            return InputImage(INPUT_FORMATS[image.format], width, height)
    except CorruptImage:
        raise
    except _UNREADABLE as exc:
        raise CorruptImage("the file is not a readable PNG, JPEG or WebP image") from exc


def decode_input(data: bytes) -> None:
    """Decode an image `read_input` passed, once, so that a truncated or corrupt file is refused
    here (`CorruptImage`) rather than failing a provider (or the demo) mid-job. The costly
    part: seconds for tens of megapixels, so it runs on the inputs' own thread."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except _UNREADABLE as exc:
        raise CorruptImage("the file is not a readable PNG, JPEG or WebP image") from exc


_UNREADABLE = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)


def _check_mask_header(mask: Image.Image, first: InputImage) -> None:
    if mask.format != "PNG":
        raise CorruptImage(f"the mask is a {mask.format} image; send a PNG with an alpha channel")
    if not mask.has_transparency_data:
        raise CorruptImage(
            f"the mask is a PNG without an alpha channel ({mask.mode}); its fully transparent "
            "pixels mark where to edit"
        )
    if mask.size != (first.width, first.height):
        raise CorruptImage(
            f"the mask is {mask.width}x{mask.height}; it must have the pixels of the first "
            f"image, {first.width}x{first.height}"
        )


@dataclass(frozen=True, kw_only=True)
class EncodedImage:
    data: bytes
    output_format: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.output_format][1]


def encode(
    data: bytes,
    *,
    output_format: str,
    compression: int | None = None,
    resize: tuple[int, int] | None = None,
) -> EncodedImage:
    """`data` in `output_format` (and shrunk to `resize`), converted only if it is in another
    format, needs compressing or has other pixels."""
    pillow_format, _ = FORMATS[output_format]
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            resize = resize if resize and resize != (width, height) else None
            if (
                image.format == pillow_format
                and (compression is None or output_format not in LOSSY)
                and resize is None
            ):
                image.verify()  # the file's structure and checksums, without decoding pixels
                return EncodedImage(
                    data=data, output_format=output_format, width=width, height=height
                )
            image.load()
            if resize is not None:
                image = image.resize(resize, Image.Resampling.LANCZOS)
                width, height = resize
            if pillow_format == "JPEG" and image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            options = {}
            if output_format in LOSSY:
                # As in OpenAI's API, output_compression is the quality kept: 100 is the best.
                options["quality"] = DEFAULT_QUALITY if compression is None else compression
            if output_format == "avif":
                options["max_threads"] = 1  # libavif would take every core; leave the loop one
            out = io.BytesIO()
            image.save(out, format=pillow_format, **options)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise CorruptImage(f"the provider returned an unreadable image ({exc})") from exc
    return EncodedImage(
        data=out.getvalue(), output_format=output_format, width=width, height=height
    )


def has_alpha(data: bytes) -> bool:
    """Whether the image carries transparency (read from its header, nothing decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.has_transparency_data
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise CorruptImage(f"the provider returned an unreadable image ({exc})") from exc


@dataclass(frozen=True, kw_only=True)
class StoredImage:
    name: str
    image: EncodedImage
    seed: int | None


def composite(edited: bytes, *, original: bytes, mask: bytes) -> bytes:
    """The edit applied through the mask, as PNG at the original's pixels: `edited` (resized to
    them) where the mask is fully transparent (alpha 0), `original`'s own pixels everywhere
    else. How the gateway honours a mask for providers that take none."""
    try:
        with (
            Image.open(io.BytesIO(original)) as base,
            Image.open(io.BytesIO(mask)) as stencil,
            Image.open(io.BytesIO(edited)) as edit,
        ):
            mode = "RGBA" if base.has_transparency_data else "RGB"
            base = base.convert(mode)
            edit = edit.convert(mode)
            if edit.size != base.size:
                edit = edit.resize(base.size, Image.Resampling.LANCZOS)
            keep = stencil.convert("RGBA").getchannel("A").point(lambda alpha: 255 if alpha else 0)
            out = io.BytesIO()
            Image.composite(base, edit, keep).save(out, format="PNG")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise CorruptImage(f"the provider returned an unreadable image ({exc})") from exc
    return out.getvalue()


def compositor(masked: tuple[str, str]) -> Callable[[bytes], bytes]:
    """`composite` into the first input image through its mask, both read once from storage
    (`masked`: their storage names)."""
    original, mask = (read(name) for name in masked)
    return functools.partial(composite, original=original, mask=mask)


def convert_and_store(
    results: list[tuple[bytes, int | None]],
    output_format: str,
    compression: int | None,
    resize: tuple[int, int] | None = None,
    masked: tuple[str, str] | None = None,
) -> list[StoredImage]:
    """Each result image `(data, seed)` converted to `output_format` (shrunk to `resize`) and
    stored. With `masked`, the storage names of the first input image and its mask, each
    result is first composited into that image through the mask, at its pixels
    (`compositor`)."""
    into_input = compositor(masked) if masked is not None else None
    stored = []
    for data, seed in results:
        if into_input is not None:
            data, resize = into_input(data), None
        encoded = encode(data, output_format=output_format, compression=compression, resize=resize)
        name = store(encoded.data, extension=encoded.output_format)
        stored.append(StoredImage(name=name, image=encoded, seed=seed))
    return stored


def store(data: bytes, *, extension: str, folder: str = "generations") -> str:
    """Save under an unguessable name and return the storage name."""
    name = f"{folder}/{secrets.token_urlsafe(24)}.{extension}"
    return default_storage.save(name, ContentFile(data))


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def read_inputs(inputs: dict) -> tuple[tuple[bytes, ...], bytes | None]:
    """A generation's stored input images and mask (`params["inputs"]`)."""
    mask = read(inputs["mask"]) if inputs["mask"] else None
    return tuple(read(name) for name in inputs["images"]), mask


def delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)
