"""Typed input schemas: the fakes validate bodies with them as the real APIs do, refusing unknown
and mistyped fields. Problems carry pydantic-style machine types (`missing`, `extra_forbidden`,
`int_type`, ...); each fake puts them in its provider's error shape."""

import base64
import binascii
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

MAX_SIDE = 14142
FAL_IMAGE_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


@dataclass(frozen=True)
class Problem:
    field: str
    kind: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Field:
    required: bool = False

    def problem(self, value: Any) -> tuple[str, str] | None:
        """(kind, message) when `value` is not acceptable."""
        return None

    def from_text(self, text: str) -> Any:
        """The value of a multipart text field."""
        return text


@dataclass(frozen=True)
class Text(Field):
    max_length: int | None = None

    def problem(self, value: Any) -> tuple[str, str] | None:
        if not isinstance(value, str):
            return "string_type", "Input should be a valid string"
        if self.max_length is not None and len(value) > self.max_length:
            return "string_too_long", f"String should have at most {self.max_length} characters"
        return None


@dataclass(frozen=True)
class Integer(Field):
    low: int | None = None
    high: int | None = None
    step: int = 1

    def problem(self, value: Any) -> tuple[str, str] | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "int_type", "Input should be a valid integer"
        return _range_problem(value, self.low, self.high) or (
            ("multiple_of", f"Input should be a multiple of {self.step}")
            if value % self.step
            else None
        )

    def from_text(self, text: str) -> Any:
        return int(text) if text.lstrip("-").isdigit() else text


@dataclass(frozen=True)
class Number(Field):
    low: float | None = None
    high: float | None = None

    def problem(self, value: Any) -> tuple[str, str] | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "float_type", "Input should be a valid number"
        return _range_problem(value, self.low, self.high)

    def from_text(self, text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text


@dataclass(frozen=True)
class Boolean(Field):
    def problem(self, value: Any) -> tuple[str, str] | None:
        return None if isinstance(value, bool) else ("bool_type", "Input should be a valid boolean")

    def from_text(self, text: str) -> Any:
        return {"true": True, "false": False}.get(text, text)


@dataclass(frozen=True)
class Choice(Field):
    values: tuple[str, ...] = ()

    def problem(self, value: Any) -> tuple[str, str] | None:
        if value in self.values:
            return None
        return "enum", "Input should be " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class ImageRef(Field):
    """An input image as an http(s) URL or a data URI (which must hold a real picture)."""

    many: bool = False

    def problem(self, value: Any) -> tuple[str, str] | None:
        values = value if self.many and isinstance(value, list) else [value]
        if self.many and not isinstance(value, list):
            return "list_type", "Input should be a valid list"
        for item in values:
            if not isinstance(item, str):
                return "string_type", "Input should be a valid string"
            if item.startswith("data:"):
                try:
                    image_size(decode_data_uri(item))
                except ValueError:
                    return "image_load_error", "Could not load the image from the data URI"
            elif not item.startswith(("http://", "https://")):
                return "url_parsing", "Input should be a valid URL or data URI"
        return None


@dataclass(frozen=True)
class FalImageSize(Field):
    """fal's `image_size`: one of its names, or {"width", "height"}."""

    def problem(self, value: Any) -> tuple[str, str] | None:
        if isinstance(value, str) and value in FAL_IMAGE_SIZES:
            return None
        if isinstance(value, dict) and set(value) == {"width", "height"}:
            for side in value.values():
                if problem := Integer(1, MAX_SIDE).problem(side):
                    return problem
            return None
        return "image_size", "Input should be an ImageSize object or " + ", ".join(FAL_IMAGE_SIZES)


@dataclass(frozen=True)
class PixelSize(Field):
    """OpenAI's `size`: "auto" or "WxH"."""

    def problem(self, value: Any) -> tuple[str, str] | None:
        if value == "auto" or (
            isinstance(value, str) and re.fullmatch(r"[1-9]\d*x[1-9]\d*", value)
        ):
            return None
        return "invalid_value", "size should be 'auto' or WIDTHxHEIGHT"


@dataclass(frozen=True)
class Anything(Field):
    pass


def validate(schema: Mapping[str, Field], data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem("", "model_type", "Input should be a valid object")]
    problems = [
        Problem(name, "extra_forbidden", "Extra inputs are not permitted")
        for name in data
        if name not in schema
    ]
    for name, field in schema.items():
        if name not in data:
            if field.required:
                problems.append(Problem(name, "missing", "Field required"))
        elif found := field.problem(data[name]):
            problems.append(Problem(name, *found))
    return problems


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a base64 `data:` URI; ValueError if it is not one."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise ValueError("not a base64 data URI")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError("bad base64") from exc


def image_size(data: bytes) -> tuple[int, int]:
    """The (width, height) of an image's bytes; ValueError if they are no image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError("not an image") from exc


def input_size(ref: Any, default: tuple[int, int]) -> tuple[int, int]:
    """The size of an input image given as a data URI (the fakes fetch no URLs)."""
    try:
        return image_size(decode_data_uri(ref))
    except (ValueError, AttributeError):
        return default


def _range_problem(value: float, low: float | None, high: float | None) -> tuple[str, str] | None:
    if low is not None and value < low:
        return "greater_than_equal", f"Input should be greater than or equal to {low}"
    if high is not None and value > high:
        return "less_than_equal", f"Input should be less than or equal to {high}"
    return None
