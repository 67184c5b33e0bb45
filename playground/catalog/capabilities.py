"""What one offering takes, as catalog data (`Offering.capabilities`): the sizes the provider
accepts and the pixels it makes for each, the number of input images, and every parameter it
takes with its range or choices. The gateway fits each request to it (`gateway/fit.py`); the
model pages print it.

The data, as written under an offering in `catalog.toml`::

    [models.offerings.capabilities]
    sizes = {"1:1" = "1328x1328", "16:9" = "1664x928"}   # the provider's size values
    custom = {min = 256, max = 2048, multiple = 16}      # exact pixels in these bounds
    follows_input = "match_input_image"                   # size value for "the input's shape"
    input_sets_shape = true                               # with an input, always its shape
    max_images = 1
    [models.offerings.capabilities.params]
    negative_prompt = {}
    num_inference_steps = {min = 2, max = 50, default = 28}
    acceleration = {choices = ["none", "regular"], default = "regular"}

An offering with no capabilities (a provider that serves every model under its own id, the
demo) takes whatever the gateway sends it.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Custom:
    """Exact pixels: each side within `low`..`high` and a multiple of `multiple`."""

    low: int
    high: int
    multiple: int = 1


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One parameter an offering takes: a number range, a choice, or any value."""

    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    default: Any = None

    @property
    def accepted(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.low is not None:
            return f"between {self.low:g} and {self.high:g}"
        return "any value"


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    custom: Custom | None = None
    follows_input: str | None = None  # the size value that keeps the input's shape ("": none)
    # With an input image the provider always keeps its shape, whatever size is sent.
    input_sets_shape: bool = False
    max_images: int = 0
    # None: takes every parameter the gateway sends (an offering without capabilities data).
    params: dict[str, ParamSpec] | None = None

    @classmethod
    def from_json(cls, data: dict) -> "Capabilities":
        if not data:
            return ANY
        custom = data.get("custom")
        return cls(
            sizes={
                name: (int(pixels.split("x")[0]), int(pixels.split("x")[1]))
                for name, pixels in data.get("sizes", {}).items()
            },
            custom=Custom(low=custom["min"], high=custom["max"], multiple=custom.get("multiple", 1))
            if custom
            else None,
            follows_input=data.get("follows_input"),
            input_sets_shape=data.get("input_sets_shape", False),
            max_images=data.get("max_images", 0),
            params={
                name: ParamSpec(
                    low=spec.get("min"),
                    high=spec.get("max"),
                    choices=tuple(spec.get("choices", ())),
                    default=spec.get("default"),
                )
                for name, spec in data.get("params", {}).items()
            },
        )

    @property
    def image_list(self) -> bool:
        """Whether the provider's image field is a list (it takes several) or one image."""
        return self.max_images > 1

    def takes(self, name: str) -> bool:
        return self.params is None or name in self.params


def accepted_ranges(offerings: list[Capabilities]) -> dict[str, tuple[float, float]]:
    """Each numeric parameter's range over all `offerings` together: what a model accepts
    before a value is refused (an offering whose range is narrower gets the value clamped)."""
    ranges: dict[str, tuple[float, float]] = {}
    for capabilities in offerings:
        for name, spec in (capabilities.params or {}).items():
            if spec.low is not None:
                low, high = ranges.get(name, (spec.low, spec.high))
                ranges[name] = (min(low, spec.low), max(high, spec.high))
    return ranges


ANY = Capabilities(custom=Custom(low=1, high=1_000_000), follows_input="", max_images=1_000)
