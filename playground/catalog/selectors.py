"""What the site reads of the catalog.

Every page and API request reads the catalog, which changes only when it is loaded or edited in
the admin, so each process keeps one read of it per version (`catalog_current`, catalog/cache.py).
"""

from dataclasses import dataclass

from .cache import catalog_memo, catalog_version
from .models import ImageModel, Offering, ProviderInfo
from .pricing import price_micros


@dataclass(frozen=True, kw_only=True, eq=False)
class Catalog:
    """The active models in catalog order, each with its documentation and all its offerings
    (active or not: callers filter), and the providers' names, as one process read them at
    `version`. Shared by every request of the process: read only."""

    models: tuple[ImageModel, ...]
    provider_names: dict[str, str]
    version: int  # the catalog's version it was read at (`catalog_version`)

    def model(self, slug: str) -> ImageModel | None:
        return next((model for model in self.models if model.slug == slug), None)


def catalog_current() -> Catalog:
    """The catalog at its current version: one get from the shared cache, and three queries
    the first time this process meets the version."""
    version = catalog_version()
    return catalog_memo(version, Catalog, lambda: _catalog_read(version=version))


def _catalog_read(*, version: int) -> Catalog:
    models = tuple(ImageModel.objects.filter(is_active=True).prefetch_related("offerings"))
    names = dict(ProviderInfo.objects.values_list("slug", "name"))
    return Catalog(models=models, provider_names=names, version=version)


@dataclass(frozen=True, kw_only=True)
class PricedOffering:
    """An offering with its provider's name and what one image at the model's default size costs."""

    offering: Offering
    provider_name: str
    image_price_micros: int


@dataclass(frozen=True, kw_only=True)
class ModelEntry:
    """A model of the catalog with its active offerings, cheapest first."""

    model: ImageModel
    offerings: list[PricedOffering]

    @property
    def cheapest(self) -> PricedOffering | None:
        return self.offerings[0] if self.offerings else None

    @property
    def providers(self) -> dict[str, str]:
        """Provider slug -> name, in the order of the offerings."""
        return {item.offering.provider: item.provider_name for item in self.offerings}


def model_entries(*, slug: str | None = None) -> list[ModelEntry]:
    """Active models (or the one with `slug`) with their priced active offerings."""
    catalog = catalog_current()
    return [
        _entry(model, catalog.provider_names)
        for model in catalog.models
        if slug is None or model.slug == slug
    ]


def model_entry_get(*, slug: str) -> ModelEntry | None:
    return next(iter(model_entries(slug=slug)), None)


def provider_names_offered() -> list[str]:
    """The names of the providers that sell at least one active model."""
    catalog = catalog_current()
    offered = {o.provider for model in catalog.models for o in model.offerings.all() if o.is_active}
    return [name for slug, name in catalog.provider_names.items() if slug in offered]


def model_entries_filtered(
    entries: list[ModelEntry],
    *,
    mode: str = "",
    provider: str = "",
    query: str = "",
    sort: str = "",
) -> list[ModelEntry]:
    """The entries that have `mode` and `provider` and whose name or id contains `query`,
    in catalog order or sorted by starting price ("price", "-price") or name ("name")."""
    needle = query.strip().lower()
    chosen = [
        entry
        for entry in entries
        if (not mode or entry.model.has_mode(mode))
        and (not provider or provider in entry.providers)
        and (needle in entry.model.name.lower() or needle in entry.model.slug)
    ]
    if sort == "name":
        return sorted(chosen, key=lambda entry: entry.model.name.lower())
    if sort in ("price", "-price"):
        # Models without an offering have no price; they go last either way.
        priced = [entry for entry in chosen if entry.cheapest]
        unpriced = [entry for entry in chosen if not entry.cheapest]
        priced.sort(key=lambda entry: entry.cheapest.image_price_micros, reverse=sort == "-price")
        return priced + unpriced
    return chosen


def _entry(model: ImageModel, names: dict[str, str]) -> ModelEntry:
    width, height = model.default_size
    offerings = [
        PricedOffering(
            offering=offering,
            provider_name=names.get(offering.provider, offering.provider),
            image_price_micros=price_micros(
                price_micros=offering.price_micros,
                price_unit=offering.price_unit,
                width=width,
                height=height,
                n=1,
            ),
        )
        for offering in model.offerings.all()
        if offering.is_active
    ]
    offerings.sort(key=lambda item: (item.image_price_micros, item.offering.provider))
    return ModelEntry(model=model, offerings=offerings)
