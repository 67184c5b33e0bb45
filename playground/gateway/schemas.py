"""JSON and form input of `/v1/`, parsed into one frozen `GenerationRequest` or an `InvalidRequest`.

Multipart forms send every value as a string, so numbers and booleans are also accepted in their
string form, numbers in ASCII digits only (`playground.numbers`). Parameters this module does
not know are kept in `extra` and passed to the provider.
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from playground.catalog.models import Mode
from playground.numbers import parse_float, parse_int

from . import images
from .errors import InvalidRequest, PayloadTooLarge

DEFAULT_MODEL = "qwen-image"
MAX_PROMPT_CHARS = 8000
MAX_MODEL_CHARS = 200
MAX_SHAPE_CHARS = 40  # size, aspect_ratio, resolution
MAX_N = 10
MAX_SEED = 2**32 - 1
RESPONSE_FORMATS = ("url", "b64_json")
OUTPUT_FORMATS = ("png", "jpeg", "gif", "webp", "avif")
FORMAT_ALIASES = {"jpg": "jpeg"}
# OpenAI's identifiers of the caller's end user: accepted so SDK callers need not strip them,
# never sent to a provider (they belong to the caller's relation with its users, not theirs).
IGNORED = frozenset({"user", "safety_identifier"})
MAX_PARTIAL_IMAGES = 3
# OpenAI's own parameters, checked against its choices and kept in `extra`: passed to providers
# that take them (`fit.py` says what happens where they do not).
# The values are those of the current SDK (`tests/test_api_openai_params.py` checks them
# against the installed one).
CHOICES = {
    "quality": ("standard", "hd", "low", "medium", "high", "xhigh", "max", "auto"),
    "background": ("transparent", "opaque", "auto"),
    "moderation": ("low", "auto"),
    "input_fidelity": ("high", "low"),
    "style": ("vivid", "natural"),
    "complexity": ("low", "medium", "high"),
}
# OpenAI's parameters that change what is made but that no provider here can be sent: refused
# rather than silently left out.
UNTAKEN = {
    "markup": "'markup' (a guide drawn over the first image) is not taken by any provider here; "
    "paint a mask instead to limit the edit.",
}
# The formats that keep an alpha channel, for `background="transparent"`.
TRANSPARENT_FORMATS = ("png", "webp", "avif")
# Typed parameters that every provider may take; kept in `extra` once checked. Only strength has
# a range of its own; the others take the range of the model's offerings (`fit.model_check`), so
# here they are only bounded to numbers JSON carries exactly.
JSON_INTEGER = 2**53
NUMBERS = {"cfg_scale": (-JSON_INTEGER, JSON_INTEGER), "strength": (0.0, 1.0)}
INTEGERS = {"num_inference_steps": (-JSON_INTEGER, JSON_INTEGER)}
MAX_URL_CHARS = 2048
# Parameters passed through to providers are stored as JSON: nested at most this deep.
MAX_EXTRA_DEPTH = 20


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    mode: str
    model: str
    prompt: str
    negative_prompt: str = ""
    n: int = 1
    size: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = None
    response_format: str = "url"
    output_format: str = "png"
    output_compression: int | None = None
    stream: bool = False
    partial_images: int = 0
    images: tuple[bytes, ...] = ()
    image_urls: tuple[str, ...] = ()
    mask: bytes | None = None
    mask_url: str | None = None
    webhook_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A digest of everything the caller asked for, to tell a true retry from a reused key."""
        digest = hashlib.sha256()
        digest.update(
            json.dumps(
                self.as_params()
                | {
                    "model": self.model,
                    "mode": self.mode,
                    "prompt": self.prompt,
                    "image_urls": self.image_urls,
                    "mask_url": self.mask_url,
                },
                sort_keys=True,
                default=str,
            ).encode()
        )
        for data in (*self.images, self.mask or b""):
            digest.update(hashlib.sha256(data).digest())
        return digest.hexdigest()

    def as_params(self) -> dict[str, Any]:
        """The request's parameters as JSON-safe data, for the `Generation` row."""
        return {
            "negative_prompt": self.negative_prompt,
            "n": self.n,
            "size": self.size,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "seed": self.seed,
            "response_format": self.response_format,
            "output_format": self.output_format,
            "output_compression": self.output_compression,
            "webhook_url": self.webhook_url,
            "extra": self.extra,
        }


def parse_generation_request(
    data: dict[str, Any],
    *,
    mode: str = Mode.GENERATE,
    images: tuple[bytes, ...] = (),
    mask: bytes | None = None,
    from_form: bool = False,
) -> GenerationRequest:
    """Check a generation or edit request. Edits take uploaded `images`, or URLs in `image`,
    and a `mask` upload, or its URL in `mask`.

    With `from_form`, the values are multipart strings: parameters this module does not know get
    their JSON type back ("true" a boolean, "12" a number) so provider flags keep their type.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    values = dict(data)
    image_urls = _image_urls(values.pop("image", None), values.pop("image[]", None))
    if mode == Mode.EDIT and not images and not image_urls:
        raise InvalidRequest(
            "Missing required parameter: 'image' (upload PNG, JPEG or WebP files, or give URLs).",
            param="image",
            code="missing_required_parameter",
        )
    check_image_count(len(images) + len(image_urls))
    if mode == Mode.GENERATE and image_urls:
        raise InvalidRequest(
            "'image' belongs to /v1/images/edits; generations take a prompt only.", param="image"
        )
    mask_value = values.pop("mask", None)
    mask_url = None if mask_value is None else _image_url(mask_value, "mask")
    if mode == Mode.GENERATE and mask_url:
        raise InvalidRequest(
            "'mask' belongs to /v1/images/edits, with the image it masks.", param="mask"
        )
    if mask and mask_url:
        raise InvalidRequest("Send one mask: a file or a URL, not both.", param="mask")
    known = {
        "mode": mode,
        "model": _text(values.pop("model", None), "model", max_length=MAX_MODEL_CHARS)
        or DEFAULT_MODEL,
        "prompt": _prompt(values.pop("prompt", None)),
        "negative_prompt": _text(values.pop("negative_prompt", None), "negative_prompt") or "",
        "n": _integer(values.pop("n", None), "n", 1, MAX_N, default=1),
        "size": _text(values.pop("size", None), "size", max_length=MAX_SHAPE_CHARS),
        "aspect_ratio": _text(
            values.pop("aspect_ratio", None), "aspect_ratio", max_length=MAX_SHAPE_CHARS
        ),
        "resolution": _text(
            values.pop("resolution", None), "resolution", max_length=MAX_SHAPE_CHARS
        ),
        "seed": _integer(values.pop("seed", None), "seed", 0, MAX_SEED, default=None),
        "response_format": _choice(
            values.pop("response_format", None), "response_format", RESPONSE_FORMATS, "url"
        ),
        "output_format": _choice(
            values.pop("output_format", None), "output_format", OUTPUT_FORMATS, "png"
        ),
        "output_compression": _integer(
            values.pop("output_compression", None), "output_compression", 0, 100, default=None
        ),
        "stream": _boolean(values.pop("stream", None), "stream"),
        "partial_images": _integer(
            values.pop("partial_images", None), "partial_images", 0, MAX_PARTIAL_IMAGES, default=0
        ),
        "images": images,
        "image_urls": image_urls,
        "mask": mask,
        "mask_url": mask_url,
        "webhook_url": _url(values.pop("webhook_url", None), "webhook_url"),
    }
    for name in IGNORED:
        values.pop(name, None)
    for name, message in UNTAKEN.items():
        if name in values:
            raise InvalidRequest(message, param=name)
    if from_form:
        values = {name: _from_form(value) for name, value in values.items()}
    for name, choices in CHOICES.items():
        choice = _choice(values.pop(name, None), name, choices, default=None)
        if choice is not None:
            values[name] = choice
    if values.get("background") == "transparent" and known["output_format"] not in (
        TRANSPARENT_FORMATS
    ):
        raise InvalidRequest(
            f"A transparent background needs output_format {' or '.join(TRANSPARENT_FORMATS)};"
            f" {known['output_format']} has no transparency.",
            param="background",
        )
    for name, (low, high) in NUMBERS.items():
        if name in values:
            values[name] = _number(values[name], name, low, high)
    for name, (low, high) in INTEGERS.items():
        if name in values:
            values[name] = _integer(values[name], name, low, high, default=None)
    for name, value in values.items():
        _check_passthrough(value, name)
    return GenerationRequest(**known, extra=values)


def _check_passthrough(value: Any, param: str, depth: int = 0) -> None:
    """A parameter we pass to the provider must be JSON every database and provider takes:
    names and text without NUL or lone surrogates, finite numbers, not nested without end."""
    if not _is_safe(param):
        raise InvalidRequest("A parameter name holds NUL characters or invalid Unicode.")
    if depth > MAX_EXTRA_DEPTH:
        raise InvalidRequest(f"'{param}' is nested too deeply.", param=param)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"'{param}' must be a finite number.", param=param)
    if isinstance(value, str):
        _safe_text(value, param)
    elif isinstance(value, list):
        for item in value:
            _check_passthrough(item, param, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _is_safe(key):
                raise InvalidRequest(
                    f"A key in '{param}' holds NUL characters or invalid Unicode.", param=param
                )
            _check_passthrough(item, param, depth + 1)


def _safe_text(value: str, param: str) -> str:
    """`value`, unless it holds a NUL or a lone surrogate (text no database stores)."""
    if "\x00" in value:
        raise InvalidRequest(f"'{param}' must not contain NUL characters.", param=param)
    if not _is_safe(value):
        raise InvalidRequest(f"'{param}' is not valid Unicode text.", param=param)
    return value


def _is_safe(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _from_form(text: Any) -> Any:
    if isinstance(text, list):
        return [_from_form(item) for item in text]
    if text in ("true", "false"):
        return text == "true"
    for parse in (parse_int, parse_float):
        try:
            return parse(text)
        except ValueError:
            continue
    return text


def _image_urls(*values: Any) -> tuple[str, ...]:
    urls = []
    for value in values:
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            urls.append(_image_url(item, "image"))
    return tuple(urls)


def _image_url(item: Any, param: str) -> str:
    """An input image named by URL: an http(s) URL or a data:image/... URI, bare or as
    `{"image_url": ...}` (or `{"url": ...}`)."""
    if isinstance(item, dict):
        item = item.get("image_url") or item.get("url")
    url = _url(item, param, allow_data=True)
    if url is None:
        raise InvalidRequest(
            f"'{param}' must be an http(s) URL or a data:image/... URI.", param=param
        )
    return url


def _url(value: Any, param: str, *, allow_data: bool = False) -> str | None:
    if value is None:
        return None
    is_data = allow_data and isinstance(value, str) and value.startswith("data:image/")
    if not isinstance(value, str) or not (value.startswith(("http://", "https://")) or is_data):
        accepted = "an http(s) URL or a data:image/... URI" if allow_data else "an http(s) URL"
        raise InvalidRequest(f"'{param}' must be {accepted}.", param=param)
    if not is_data and len(value) > MAX_URL_CHARS:
        raise InvalidRequest(f"'{param}' is longer than {MAX_URL_CHARS} characters.", param=param)
    return _safe_text(value, param)


def _number(value: Any, param: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequest(f"'{param}' must be a number.", param=param)
    try:
        number = parse_float(value) if isinstance(value, str) else float(value)
    except ValueError:
        raise InvalidRequest(
            f"'{param}' must be a number, written with the digits 0-9.", param=param
        ) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise InvalidRequest(f"'{param}' must be between {low:g} and {high:g}.", param=param)
    return number


def _prompt(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidRequest(
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    return _text(value, "prompt")


def _text(value: Any, param: str, *, max_length: int = MAX_PROMPT_CHARS) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{param}' must be a string.", param=param)
    _safe_text(value, param)
    if len(value) > max_length:
        raise InvalidRequest(
            f"'{param}' is too long: {len(value)} characters, at most {max_length}.",
            param=param,
        )
    return value


def _integer(value: Any, param: str, low: int, high: int, *, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequest(f"'{param}' must be an integer.", param=param)
    try:
        number = parse_int(value) if isinstance(value, str) else value
    except ValueError:
        raise InvalidRequest(
            f"'{param}' must be an integer, written with the digits 0-9.", param=param
        ) from None
    if not low <= number <= high:
        raise InvalidRequest(f"'{param}' must be between {low} and {high}.", param=param)
    return number


def _boolean(value: Any, param: str) -> bool:
    """A JSON boolean, or its form spelling "true" / "false"."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise InvalidRequest(f"'{param}' must be true or false.", param=param)


def _choice(value: Any, param: str, choices: tuple[str, ...], default: str | None) -> str | None:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        value = FORMAT_ALIASES.get(value.lower(), value.lower())
    if value not in choices:
        raise InvalidRequest(
            f"Invalid '{param}' {value!r}: use one of {', '.join(choices)}.", param=param
        )
    return value


# What one edit may send: how many images, how large each, of which types. The API and the
# playground check against these alone.


def check_image_count(count: int) -> None:
    if count > settings.MAX_INPUT_IMAGES:
        raise InvalidRequest(
            f"Too many images: {count}; at most {settings.MAX_INPUT_IMAGES} per edit.",
            param="image",
        )


def check_upload(
    *, name: str, size: int, content_type: str | None = None, param: str = "image"
) -> None:
    """An uploaded file's declared size and, when the client said it, type. The bytes
    themselves are checked when they are stored (`services._store_inputs`)."""
    if content_type is not None and content_type not in images.INPUT_CONTENT_TYPES:
        raise InvalidRequest(f"{name} is not a PNG, JPEG or WebP image.", param=param)
    if size > settings.MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"{name} is {filesizeformat(size)}; the limit is "
            f"{filesizeformat(settings.MAX_UPLOAD_BYTES)} per image.",
            param=param,
        )
