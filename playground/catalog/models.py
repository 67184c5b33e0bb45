import math
from functools import cached_property

from django.db import models
from django.db.models import Q

from .capabilities import Capabilities


class Mode(models.TextChoices):
    GENERATE = "generate", "Text to image"
    EDIT = "edit", "Image edit"


class PriceUnit(models.TextChoices):
    IMAGE = "image", "per image"
    MEGAPIXEL = "megapixel", "per megapixel"
    MEGAPIXEL_UP = "megapixel_up", "per megapixel, rounded up to whole megapixels"


def ordered_tiers(sizes: dict) -> dict[str, dict[str, str]]:
    """A model's size tiers in a fixed order: smallest tier first, and in each the ratios
    squarest first, landscape before portrait (1:1, 4:3, 3:4, ...). The order is derived, not
    stored, because PostgreSQL's jsonb does not keep the order of an object's keys."""

    def tier_area(tier: tuple[str, dict[str, str]]) -> int:
        return max(width * height for width, height in map(parse_pixels, tier[1].values()))

    def shape(ratio: str) -> tuple[float, bool]:
        width, height = map(float, ratio.split(":"))
        return round(abs(math.log(width / height)), 9), height > width

    return {
        name: {ratio: table[ratio] for ratio in sorted(table, key=shape)}
        for name, table in sorted(sizes["tiers"].items(), key=tier_area)
    }


def parse_pixels(text: str) -> tuple[int, int]:
    """The catalog's "WxH" sizes as numbers: "1365x768" -> (1365, 768)."""
    width, height = text.split("x")
    return int(width), int(height)


class ImageModel(models.Model):
    """One model of the catalog, as loaded from `catalog/data/catalog.toml`."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    vendor = models.CharField(max_length=100)
    summary = models.TextField()
    modes = models.JSONField(default=list)
    sizes = models.JSONField(default=dict)
    docs = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.slug

    def has_mode(self, mode: str) -> bool:
        return mode in self.modes

    @property
    def mode_labels(self) -> list[str]:
        return [Mode(mode).label for mode in self.modes]

    @property
    def default_size(self) -> tuple[int, int]:
        """The pixels of a request that names no size: the default ratio at the default tier."""
        tier = self.sizes["tiers"][self.sizes["default_resolution"]]
        return parse_pixels(tier[self.sizes["default_ratio"]])


class Offering(models.Model):
    """A model as one provider sells it: its id there, its price, and what it takes
    (`capabilities`, read through `catalog.capabilities.Capabilities`)."""

    model = models.ForeignKey(ImageModel, on_delete=models.CASCADE, related_name="offerings")
    provider = models.CharField(max_length=50)
    provider_model_id = models.CharField(max_length=200)
    modes = models.JSONField(default=list)
    price_micros = models.BigIntegerField()
    price_unit = models.CharField(max_length=16, choices=PriceUnit.choices, default=PriceUnit.IMAGE)
    is_estimate = models.BooleanField(default=False)
    # The price as the provider states it when that is not dollars, e.g. "5 credits per image".
    native_price = models.CharField(max_length=100, blank=True)
    capabilities = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["price_micros", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "provider", "provider_model_id"], name="offering_unique"
            ),
            models.CheckConstraint(
                condition=Q(price_micros__gte=0), name="offering_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(price_unit__in=PriceUnit.values), name="offering_price_unit_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.slug} via {self.provider}"

    @property
    def mode_labels(self) -> list[str]:
        return [Mode(mode).label for mode in self.modes]

    @cached_property
    def takes(self) -> Capabilities:
        return Capabilities.from_json(self.capabilities)


class ProviderInfo(models.Model):
    """What the catalog says about a provider: its name and how each parameter maps to it."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    website = models.URLField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "provider"

    def __str__(self) -> str:
        return self.name
