"""What the site reads of the catalog.

Every page and API request reads the catalog, which changes only when it is loaded or edited in
the admin, so each process keeps one read of it (`catalog_current`): read again once it is
CATALOG_MAX_AGE_SECONDS old, and at once after this process changed a row of it. A read that
finds the rows as they were keeps the one before, and with it what was worked out from it.
"""

import functools
import time
from dataclasses import dataclass, field

from django.db import connection

from .models import ImageModel, Offering, ProviderInfo
from .pricing import price_micros

# How long other processes may go on with the catalog as it was before a change.
CATALOG_MAX_AGE_SECONDS = 2.0


@dataclass(frozen=True, kw_only=True, eq=False)
class Catalog:
    """The active models in catalog order, each with its documentation and all its offerings
    (active or not: callers filter), and the providers' names, as one process read them.
    Shared by every request of the process: read only. Each read is its own (hashed by
    identity), so what is worked out from one read can be kept until a read finds a change."""

    models: tuple[ImageModel, ...]
    provider_names: dict[str, str]
    read_at: float
    rows: tuple = field(repr=False)  # what it was read from (`_rows`): was it changed since?

    def model(self, slug: str) -> ImageModel | None:
        return next((model for model in self.models if model.slug == slug), None)


_current: Catalog | None = None
_checked_at = 0.0


def catalog_current() -> Catalog:
    global _current, _checked_at
    current, now = _current, time.monotonic()
    if current is None or now - _checked_at > CATALOG_MAX_AGE_SECONDS:
        rows = _rows()
        if current is None or rows != current.rows:
            models = tuple(ImageModel.objects.filter(is_active=True).prefetch_related("offerings"))
            current = Catalog(models=models, provider_names=dict(rows[-1]), read_at=now, rows=rows)
        _current, _checked_at = current, now
    return current


def _rows() -> tuple:
    """Every column of the active models and of their offerings, and the providers' names, as
    the database returns them: no conversion and no model, by statements compiled once per
    process. A check, which mostly finds nothing changed, costs 0.06 ms on SQLite instead of
    0.8 ms through the ORM. Should a change land between this and the models' read, the next
    check sees it."""
    with connection.cursor() as cursor:
        return tuple(_fetch_all(cursor, sql, params) for sql, params in _row_statements())


@functools.cache
def _row_statements() -> tuple[tuple[str, tuple], ...]:
    return tuple(
        queryset.query.sql_with_params()
        for queryset in (
            ImageModel.objects.filter(is_active=True).values_list(),
            Offering.objects.filter(model__is_active=True).order_by("pk").values_list(),
            ProviderInfo.objects.values_list("slug", "name"),
        )
    )


def _fetch_all(cursor, sql: str, params: tuple) -> tuple:
    cursor.execute(sql, params)
    return tuple(cursor.fetchall())


def catalog_forget(**_) -> None:
    """Read the catalog again when next used; a receiver of every change to its rows."""
    global _current
    _current = None


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
