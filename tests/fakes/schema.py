"""Typed input schemas: the fakes validate bodies with them as the real APIs do, refusing unknown
and mistyped fields. Problems carry pydantic-style machine types (`missing`, `extra_forbidden`,
`int_type`, ...) and the limit they broke (`ctx`); each fake puts them in its provider's error
shape (fal: pydantic's, Replicate: its JSON-schema validator's)."""

import base64
import binascii
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    ctx: Mapping[str, Any] = field(default_factory=dict)  # the limit broken: {"le": 50}, ...
    value: Any = None  # the value refused


Found = tuple[str, str] | tuple[str, str, Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Field:
    required: bool = False
    nullable: bool = False  # null is accepted as "not given"

    def problem(self, value: Any) -> Found | None:
        """(kind, message[, ctx]) when `value` is not acceptable."""
        return None

    def from_text(self, text: str) -> Any:
        """The value of a multipart text field."""
        return text


@dataclass(frozen=True)
class Text(Field):
    max_length: int | None = None

    def problem(self, value: Any) -> Found | None:
        if not isinstance(value, str):
            return "string_type", "Input should be a valid string", {"expected": "string"}
        if self.max_length is not None and len(value) > self.max_length:
            return (
                "string_too_long",
                f"String should have at most {self.max_length} characters",
                {"max_length": self.max_length},
            )
        return None


@dataclass(frozen=True)
class Integer(Field):
    low: int | None = None
    high: int | None = None
    step: int = 1

    def problem(self, value: Any) -> Found | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "int_type", "Input should be a valid integer", {"expected": "integer"}
        return _range_problem(value, self.low, self.high) or (
            (
                "multiple_of",
                f"Input should be a multiple of {self.step}",
                {"multiple_of": self.step},
            )
            if value % self.step
            else None
        )

    def from_text(self, text: str) -> Any:
        return int(text) if text.lstrip("-").isdigit() else text


@dataclass(frozen=True)
class Number(Field):
    low: float | None = None
    high: float | None = None

    def problem(self, value: Any) -> Found | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "float_type", "Input should be a valid number", {"expected": "number"}
        return _range_problem(value, self.low, self.high)

    def from_text(self, text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text


@dataclass(frozen=True)
class Boolean(Field):
    def problem(self, value: Any) -> Found | None:
        if isinstance(value, bool):
            return None
        return "bool_type", "Input should be a valid boolean", {"expected": "boolean"}

    def from_text(self, text: str) -> Any:
        return {"true": True, "false": False}.get(text, text)


@dataclass(frozen=True)
class Choice(Field):
    values: tuple[str, ...] = ()

    def problem(self, value: Any) -> Found | None:
        if value in self.values:
            return None
        return (
            "enum",
            "Input should be " + ", ".join(repr(v) for v in self.values),
            {"expected": self.values},
        )


@dataclass(frozen=True)
class ImageRef(Field):
    """An input image as an http(s) URL or a data URI (which must hold a real picture)."""

    many: bool = False

    def problem(self, value: Any) -> Found | None:
        values = value if self.many and isinstance(value, list) else [value]
        if self.many and not isinstance(value, list):
            return "list_type", "Input should be a valid list", {"expected": "array"}
        if self.many and not value:
            return (
                "too_short",
                "List should have at least 1 item after validation",
                {"min_length": 1},
            )
        for item in values:
            if not isinstance(item, str):
                return "string_type", "Input should be a valid string", {"expected": "string"}
            if item.startswith("data:"):
                try:
                    image_size(decode_data_uri(item))
                except ValueError:
                    return "image_load_error", "Could not load the image from the data URI"
            elif not item.startswith(("http://", "https://")):
                return "url_parsing", "Input should be a valid URL or data URI"
        return None


@dataclass(frozen=True)
class ListOf(Field):
    """A JSON array whose items are each an `item`, at most `max_items` of them."""

    item: Field = field(default_factory=Field)
    max_items: int | None = None

    def problem(self, value: Any) -> Found | None:
        if not isinstance(value, list):
            return "list_type", "Input should be a valid list", {"expected": "array"}
        if self.max_items is not None and len(value) > self.max_items:
            return (
                "too_long",
                f"List should have at most {self.max_items} items after validation",
                {"max_length": self.max_items},
            )
        for item in value:
            if found := self.item.problem(item):
                return found
        return None


@dataclass(frozen=True)
class Object(Field):
    """A JSON object with these fields (and no others)."""

    fields: Mapping[str, Field] = field(default_factory=dict)

    def problem(self, value: Any) -> Found | None:
        problems = validate(self.fields, value)
        if not problems:
            return None
        first = problems[0]
        return first.kind, f"{first.field}: {first.message}".lstrip(": "), first.ctx


@dataclass(frozen=True)
class FalImageSize(Field):
    """fal's `image_size`: one of its names, or {"width", "height"}."""

    def problem(self, value: Any) -> Found | None:
        if isinstance(value, str) and value in FAL_IMAGE_SIZES:
            return None
        if isinstance(value, dict) and set(value) == {"width", "height"}:
            for side in value.values():
                if problem := Integer(1, MAX_SIDE).problem(side):
                    return problem
            return None
        return (
            "image_size",
            "Input should be an ImageSize object or " + ", ".join(FAL_IMAGE_SIZES),
            {"expected": tuple(FAL_IMAGE_SIZES)},
        )


@dataclass(frozen=True)
class PixelSize(Field):
    """OpenAI's `size`: "auto" or "WxH"."""

    def problem(self, value: Any) -> Found | None:
        if value == "auto" or (
            isinstance(value, str) and re.fullmatch(r"[1-9]\d*x[1-9]\d*", value)
        ):
            return None
        return "invalid_value", "size should be 'auto' or WIDTHxHEIGHT", {"expected": "WxH"}


def validate(schema: Mapping[str, Field], data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem("", "model_type", "Input should be a valid object")]
    problems = [
        Problem(name, "extra_forbidden", "Extra inputs are not permitted", value=data[name])
        for name in data
        if name not in schema
    ]
    for name, spec in schema.items():
        value = data.get(name)
        if name not in data or (value is None and spec.nullable):
            if spec.required:
                problems.append(Problem(name, "missing", "Field required"))
        elif found := spec.problem(value):
            problems.append(Problem(name, *found, value=value))
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


def shaped(shape: tuple[int, int], area: int, multiple: int) -> tuple[int, int]:
    """`shape`'s aspect ratio at about `area` pixels, each side a multiple of `multiple`: how the
    Qwen pipelines size an output that keeps an input's shape (diffusers'
    `pipeline_qwenimage_edit*.calculate_dimensions(1024 * 1024, ratio)` rounds to 32)."""
    ratio = shape[0] / shape[1]
    width = math.sqrt(area * ratio)
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(width / ratio / multiple) * multiple),
    )


EDIT_AREA = 1024 * 1024  # an output that keeps an input's shape has about this many pixels


def input_shape_kept(shape: tuple[int, int]) -> tuple[int, int]:
    """The pixels of an edit's output that keeps the input's `shape`."""
    return shaped(shape, EDIT_AREA, 32)


def _range_problem(value: float, low: float | None, high: float | None) -> Found | None:
    if low is not None and value < low:
        return "greater_than_equal", f"Input should be greater than or equal to {low}", {"ge": low}
    if high is not None and value > high:
        return "less_than_equal", f"Input should be less than or equal to {high}", {"le": high}
    return None
