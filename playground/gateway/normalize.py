"""size | aspect_ratio | resolution -> one concrete (width, height), from a model's size data.

The size data (catalog) looks like::

    {"default_ratio": "1:1", "default_resolution": "1K", "min_side": 64, "max_side": 14142,
     "max_pixels": 16777216,
     "tiers": {"1K": {"1:1": "1024x1024", "16:9": "1365x768", ...}}}

Rules: a "WxH" size is used as given (within the model's side limits) and always wins; a "W:H"
size means the same as `aspect_ratio`. An aspect ratio maps to the supported ratio nearest on a
log scale (7:1 between 4:1 and 8:1 gives 8:1), a resolution to the nearest tier by pixel count;
ties go to the squarer ratio, then the landscape one (the order of `ordered_tiers`).
"""

import math
import re

from playground.catalog.models import ordered_tiers, parse_pixels

from .errors import InvalidRequest

# ASCII digits only (`playground.numbers`): `[0-9]`, as `\d` takes any Unicode digit in
# Python. The same patterns describe the parameters in /v1/openapi.json (`openapi.py`), where
# ECMA-262 reads them alike (but for `\s`, which takes Unicode spaces there).
_DECIMAL = r"[0-9]+(?:\.[0-9]+)?"
PIXELS = r"\s*([0-9]{1,6})\s*[xX*×]\s*([0-9]{1,6})\s*"
RATIO = rf"\s*({_DECIMAL})\s*:\s*({_DECIMAL})\s*"
K_TIER = rf"\s*({_DECIMAL})\s*[kK]\s*"
MP_TIER = rf"\s*({_DECIMAL})\s*(?:mp|MP)?\s*"
_PIXELS, _RATIO, _K_TIER, _MP_TIER = (
    re.compile(f"^{pattern}$", re.ASCII) for pattern in (PIXELS, RATIO, K_TIER, MP_TIER)
)


def resolve_size(
    sizes: dict,
    *,
    size: str | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
) -> tuple[int, int]:
    if names_size(size):
        if match := _PIXELS.match(size):
            return _checked_pixels(sizes, int(match[1]), int(match[2]))
        if _RATIO.match(size):
            aspect_ratio = size
        else:
            raise InvalidRequest(
                f"Invalid size {size!r}: use 'WxH' pixels (e.g. '1024x1024') "
                "or 'W:H' (e.g. '16:9').",
                param="size",
            )
    tiers = ordered_tiers(sizes)
    tier_name = sizes["default_resolution"]
    if resolution:
        wanted = tier_megapixels(resolution, param="resolution")
        tier_name = _nearest(tiers, lambda name: tier_megapixels(name), wanted)
    tier = tiers[tier_name]
    ratio_name = aspect_ratio or sizes["default_ratio"]
    wanted_ratio = ratio_value(ratio_name, param="size" if size else "aspect_ratio")
    ratio_name = _nearest(tier, ratio_value, wanted_ratio)
    return parse_pixels(tier[ratio_name])


def names_size(size: str | None) -> bool:
    """Whether `size` asks for anything: left out and "auto" do not."""
    return bool(size) and size.strip().lower() != "auto"


def is_pixels(size: str | None) -> bool:
    """Whether `size` gives exact pixels ("WxH") rather than a shape."""
    return bool(size and _PIXELS.match(size))


def input_shaped(area_of: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """An input image's shape (`width` x `height`) at the pixel count of `area_of`: for an edit
    that names no size, the model's default size."""
    scale = math.sqrt(area_of[0] * area_of[1] / (width * height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def ratio_value(text: str, *, param: str = "aspect_ratio") -> float:
    match = _RATIO.match(text)
    if not match or float(match[1]) <= 0 or float(match[2]) <= 0:
        raise InvalidRequest(
            f"Invalid aspect ratio {text!r}: use 'W:H' with positive numbers, e.g. '16:9'.",
            param=param,
        )
    return float(match[1]) / float(match[2])


def tier_megapixels(text: str, *, param: str = "resolution") -> float:
    """'1K' -> 1.0 (a 1024x1024-ish image), '4K' -> 16.0, '0.25' -> 0.25 megapixels."""
    if match := _K_TIER.match(text):
        value = float(match[1]) ** 2
    elif match := _MP_TIER.match(text):
        value = float(match[1])
    else:
        value = 0.0
    if value <= 0:
        raise InvalidRequest(
            f"Invalid resolution {text!r}: use a tier such as '0.5K', '1K', '2K', '4K' "
            "or megapixels such as '0.25' or '1'.",
            param=param,
        )
    return value


def _nearest(options: dict, value_of, wanted: float) -> str:
    """The key of `options` whose value is nearest to `wanted` on a log scale; first wins ties."""
    return min(options, key=lambda name: round(abs(math.log(value_of(name)) - math.log(wanted)), 9))


def _checked_pixels(sizes: dict, width: int, height: int) -> tuple[int, int]:
    low, high = sizes["min_side"], sizes["max_side"]
    if not (low <= width <= high and low <= height <= high):
        raise InvalidRequest(
            f"Invalid size {width}x{height}: each side must be between {low} and {high} pixels.",
            param="size",
        )
    if width * height > sizes["max_pixels"]:
        raise InvalidRequest(
            f"Invalid size {width}x{height}: at most {sizes['max_pixels']:,} pixels in all.",
            param="size",
        )
    return width, height
