"""Fitting a request to one offering: served as asked, served mapped, or not at all.

The request is first resolved to target pixels (`normalize.resolve_size`). For each offering,
`offering_fit` then picks what to send from the offering's capabilities (catalog data):

- **Size.** For an edit that named no size, the offering's "keep the input's shape" (for any
  edit, where the provider always keeps it: mapped when a size was asked). Else a
  listed size with the target pixels or, for a request that named a shape rather than pixels,
  a listed size of the same shape and about the same scale (the provider's own pixels); else
  the target pixels as they are, when the offering takes exact pixels in that range (`custom`).
  Otherwise it is *mapped*: exact pixels clamped and rounded into the offering's range, else the
  listed size nearest in shape; an offering with neither cannot serve a size other than the
  input's shape. When the caller asked for exact pixels
  and the offering makes the same shape larger, the gateway shrinks the result to the pixels
  asked for (`resize`).
- **Parameters.** A value in the offering's range is sent as it is; one outside is clamped
  (mapped); a value an offering's choices lack, or more input images than it takes, means the
  offering cannot serve the request. A parameter the offering does not take is not sent, and
  said (mapped), unless the value is what every image model does anyway (`IMPLIED`: an opaque
  background, its own quality); a transparent background (`NEEDS_TAKER`) is made only where the
  offering takes `background`.

What was mapped is kept as `{"param", "asked", "served"}` entries: the answer and the
playground's details show them.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from playground.catalog.capabilities import Capabilities, Custom, ParamSpec, accepted_ranges

from .errors import InvalidRequest
from .normalize import input_shaped

SAME_SHAPE = 0.01  # two sizes whose width:height differ by less than 1% have the same shape
SAME_SCALE = math.log(2)  # ... and by less than a factor of 2 in area, the same scale
# OpenAI's values that an offering without the parameter serves as asked: it makes opaque
# images at its own quality, with its own safety filter.
IMPLIED = {"background": ("opaque", "auto"), "quality": ("auto",), "moderation": ("auto",)}
# Values only an offering that takes the parameter can serve.
NEEDS_TAKER = {"background": ("transparent",)}


@dataclass(frozen=True, kw_only=True)
class Asked:
    """A request as the offerings see it."""

    width: int
    height: int
    exact: bool = False  # the caller gave pixels ("WxH"), not a shape
    follows_input: bool = False  # an edit that named no size: keep the first input's shape
    images: int = 0
    input_size: tuple[int, int] | None = None  # the first input image's pixels, when known
    params: dict[str, Any] = field(default_factory=dict)  # every parameter sent to providers


@dataclass(frozen=True, kw_only=True)
class Fit:
    width: int  # the pixels the provider makes (for a kept input shape: the target)
    height: int
    size_name: str | None  # the provider's size value; None: exact pixels; "": no size sent
    params: dict[str, Any]
    mapped: list[dict[str, str]]
    resize: tuple[int, int] | None = None  # shrink the results to these pixels

    @property
    def is_as_asked(self) -> bool:
        return not self.mapped


class Unfit(Exception):
    """This offering cannot serve the request: `param` and what the offering accepts."""

    def __init__(self, message: str, *, param: str):
        super().__init__(message)
        self.message = message
        self.param = param


def offering_fit(capabilities: Capabilities, asked: Asked) -> Fit:
    if asked.images > capabilities.max_images:
        raise Unfit(
            f"takes at most {capabilities.max_images} input image"
            f"{'' if capabilities.max_images == 1 else 's'} (the request has {asked.images})",
            param="image",
        )
    mapped: list[dict[str, str]] = []
    params = {}
    for name, value in asked.params.items():
        if not capabilities.takes(name):
            if value in NEEDS_TAKER.get(name, ()):
                raise Unfit(
                    f"cannot make {name} {value!r}: no provider of it here takes '{name}'",
                    param=name,
                )
            if value not in IMPLIED.get(name, ()):
                mapped.append(_entry(name, value, "not taken here: not sent"))
            continue
        spec = capabilities.params.get(name) if capabilities.params is not None else None
        sent = _param_value(spec, name, value) if spec else value
        if sent != value:
            mapped.append(_entry(name, value, f"{sent:g}"))
        params[name] = sent
    return _size_fit(capabilities, asked, params, mapped)


def model_check(offerings: list[Capabilities], asked: Asked, *, model: str) -> None:
    """Refuse a number outside what the model's `offerings` together accept, naming the
    parameter and the model's range: a value some offering takes is served, mapped elsewhere."""
    for name, (low, high) in accepted_ranges(offerings).items():
        value = asked.params.get(name)
        if _is_number(value) and not low <= value <= high:
            raise InvalidRequest(
                f"'{name}' must be between {low:g} and {high:g} for {model}.", param=name
            )


def _param_value(spec: ParamSpec, name: str, value: Any) -> Any:
    if spec.choices:
        if value not in spec.choices:
            raise Unfit(f"takes '{name}' as {spec.accepted}", param=name)
        return value
    if spec.low is not None and _is_number(value):
        clamped = min(max(value, spec.low), spec.high)
        return type(value)(clamped) if isinstance(value, int) else clamped
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _size_fit(
    capabilities: Capabilities, asked: Asked, params: dict, mapped: list[dict[str, str]]
) -> Fit:
    target = (asked.width, asked.height)
    pixels = f"{asked.width}x{asked.height}"

    def fit(size: tuple[int, int], name: str | None, served: str = "", **more) -> Fit:
        notes = [*mapped, *([_entry("size", pixels, served)] if served else [])]
        return Fit(
            width=size[0], height=size[1], size_name=name, params=params, mapped=notes, **more
        )

    custom = capabilities.custom
    if capabilities.follows_input is not None:
        if asked.follows_input:
            return fit(target, capabilities.follows_input)
        if asked.images and capabilities.input_sets_shape:
            # The input's shape at about the pixels asked for.
            made = input_shaped(target, *asked.input_size) if asked.input_size else target
            return fit(made, capabilities.follows_input, "the input image's shape")
    for name, size in capabilities.sizes.items():
        if size == target or (
            not asked.exact and _same_shape(size, target) and _same_scale(size, target)
        ):
            return fit(size, name)
    if custom and _in_custom(custom, target):
        return fit(target, None)
    if custom:
        name, made = None, _into_custom(custom, target, round_up=asked.exact)
        label = _pixels(made)
    elif capabilities.sizes:
        name, made = min(
            capabilities.sizes.items(),
            key=lambda item: (_shape_distance(item[1], target), _scale_distance(item[1], target)),
        )
        label = f"{name} ({_pixels(made)})"
    else:
        raise Unfit("takes no size but the input image's shape", param="size")
    # Exact pixels asked, the same shape made larger: shrink the result to what was asked.
    if asked.exact and _same_shape(made, target) and made[0] >= target[0] and made[1] >= target[1]:
        made_at = f"{name + ' ' if name else ''}made at {_pixels(made)}"
        return fit(made, name, f"{made_at}, resized to {pixels}", resize=target)
    return fit(made, name, label)


def _in_custom(custom: Custom, size: tuple[int, int]) -> bool:
    return all(custom.low <= side <= custom.high and side % custom.multiple == 0 for side in size)


def _into_custom(custom: Custom, size: tuple[int, int], *, round_up: bool) -> tuple[int, int]:
    """`size` scaled into the custom range keeping its shape, each side a multiple."""
    width, height = size
    scale = min(1.0, custom.high / max(width, height))
    scale = max(scale, custom.low / min(width, height))
    rounding = math.ceil if round_up else round

    def side(value: float) -> int:
        step = custom.multiple
        rounded = rounding(value / step) * step
        return min(max(rounded, -(-custom.low // step) * step), custom.high // step * step)

    return side(width * scale), side(height * scale)


def _shape_distance(a: tuple[int, int], b: tuple[int, int]) -> float:
    return abs(math.log(a[0] / a[1]) - math.log(b[0] / b[1]))


def _scale_distance(a: tuple[int, int], b: tuple[int, int]) -> float:
    return abs(math.log(a[0] * a[1]) - math.log(b[0] * b[1]))


def _same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return _shape_distance(a, b) < SAME_SHAPE


def _same_scale(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return _scale_distance(a, b) < SAME_SCALE


def _pixels(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _entry(param: str, asked: Any, served: str) -> dict[str, str]:
    return {"param": param, "asked": str(asked), "served": served}
