from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from .models import ImageModel, Offering, ProviderInfo
from .pricing import price_micros


def model_list_active() -> QuerySet[ImageModel]:
    return ImageModel.objects.filter(is_active=True)


def model_get_active(*, slug: str) -> ImageModel | None:
    """The model, without its documentation (the gateway's hot path never reads it)."""
    return model_list_active().defer("docs").filter(slug=slug).first()


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


def model_entries(*, slug: str | None = None, with_docs: bool = True) -> list[ModelEntry]:
    """Active models (or the one with `slug`) with their priced offerings, in three queries;
    `with_docs=False` leaves out the large documentation field."""
    models = model_list_active().prefetch_related(
        Prefetch("offerings", queryset=Offering.objects.filter(is_active=True))
    )
    if not with_docs:
        models = models.defer("docs")
    if slug is not None:
        models = models.filter(slug=slug)
    names = provider_names()
    return [_entry(model, names) for model in models]


def model_entry_get(*, slug: str) -> ModelEntry | None:
    return next(iter(model_entries(slug=slug)), None)


def provider_names() -> dict[str, str]:
    return dict(ProviderInfo.objects.values_list("slug", "name"))


def provider_names_offered() -> list[str]:
    """The names of the providers that sell at least one active model."""
    offered = Offering.objects.filter(is_active=True, model__is_active=True).values("provider")
    return list(ProviderInfo.objects.filter(slug__in=offered).values_list("name", flat=True))


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
    ]
    offerings.sort(key=lambda item: (item.image_price_micros, item.offering.provider))
    return ModelEntry(model=model, offerings=offerings)
