"""Loading the catalog data file into the database."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from playground.accounts.money import usd_to_micros

from .cache import catalog_changed
from .models import ImageModel, Mode, Offering, PriceUnit, ProviderInfo

CATALOG_FILE = Path(__file__).parent / "data" / "catalog.toml"
DOC_FIELDS = (
    "overview",
    "strengths",
    "limitations",
    "technical_background",
    "best_for",
    "faq",
    "gallery",
    "examples",
)


@dataclass(frozen=True, kw_only=True)
class CatalogLoadResult:
    models: int
    offerings: int
    providers: int


def catalog_read(path: Path = CATALOG_FILE) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@transaction.atomic
def catalog_load(*, data: dict) -> CatalogLoadResult:
    """Create or update every provider, model and offering in `data`; retire the ones it lacks.
    Moves the catalog's version: every process reads the catalog again."""
    for slug, info in data["providers"].items():
        ProviderInfo.objects.update_or_create(
            slug=slug,
            defaults={
                "name": info["name"],
                "website": info.get("website", ""),
                "parameters": info.get("parameters", {}),
            },
        )
    offering_ids = []
    for position, entry in enumerate(data["models"]):
        modes = entry["modes"]
        if not set(modes) <= set(Mode.values):
            raise ValueError(f"{entry['id']}: unknown mode in {modes}")
        parameters = model_parameters(
            shared=data.get("parameters", {}), own=entry.get("parameters", {})
        )
        for parameter in parameters:
            if not set(parameter["modes"]) <= set(Mode.values):
                raise ValueError(f"{entry['id']}: unknown mode in parameter {parameter['name']}")
            if parameter.get("provider", "demo") not in data["providers"]:
                raise ValueError(f"{entry['id']}: unknown provider of {parameter['name']}")
        model, _ = ImageModel.objects.update_or_create(
            slug=entry["id"],
            defaults={
                "name": entry["name"],
                "vendor": entry["vendor"],
                "summary": entry["summary"],
                "modes": modes,
                "sizes": data["sizes"] | entry.get("sizes", {}),
                "docs": {key: entry[key] for key in DOC_FIELDS if key in entry}
                | {"parameters": parameters},
                "position": position,
                "is_active": True,
            },
        )
        for offer in entry["offerings"]:
            if offer["provider"] not in data["providers"]:
                raise ValueError(f"{entry['id']}: unknown provider {offer['provider']!r}")
            offering, _ = Offering.objects.update_or_create(
                model=model,
                provider=offer["provider"],
                provider_model_id=offer["provider_model_id"],
                defaults={
                    "modes": offer.get("modes", modes),
                    "price_micros": usd_to_micros(offer["price_usd"]),
                    "price_unit": PriceUnit(offer["unit"]),
                    "is_estimate": offer.get("estimate", False),
                    "native_price": offer.get("native_price", ""),
                    "capabilities": offer.get("capabilities", {}),
                    "is_active": True,
                },
            )
            offering_ids.append(offering.pk)
    listed = [entry["id"] for entry in data["models"]]
    ImageModel.objects.exclude(slug__in=listed).update(is_active=False)
    Offering.objects.exclude(pk__in=offering_ids).update(is_active=False)
    catalog_changed()
    return CatalogLoadResult(
        models=len(listed), offerings=len(offering_ids), providers=len(data["providers"])
    )


def model_parameters(*, shared: dict[str, dict], own: dict[str, dict]) -> list[dict]:
    """A model's parameter list: the shared definitions in order, each overridden key by key by
    the model's own table, then the parameters only the model has."""
    names = [*shared, *(name for name in own if name not in shared)]
    return [{"name": name} | shared.get(name, {}) | own.get(name, {}) for name in names]
