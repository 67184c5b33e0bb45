"""What the playground pages read: the model picker, each model's controls, prices and history."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.db.models import QuerySet

from playground.catalog.cache import catalog_memo, catalog_version
from playground.catalog.capabilities import accepted_ranges
from playground.catalog.models import ImageModel, Mode
from playground.catalog.selectors import Catalog, catalog_current
from playground.gateway.errors import GatewayError
from playground.gateway.models import Generation, GenerationImage
from playground.gateway.schemas import GenerationRequest
from playground.gateway.services import generation_quote
from playground.providers.base import STANDARD_PARAMETERS, Behaviour
from playground.providers.registry import PROVIDER_CLASSES, demo_provider

RECENT_CARDS = 12
RECENT_INPUTS = 12


@dataclass(frozen=True, kw_only=True)
class ModelOption:
    """A model in one of its modes, as the picker offers it."""

    model: ImageModel
    mode: str
    version: int  # the catalog's version it comes from (`Catalog.version`)

    @property
    def value(self) -> str:
        return f"{self.model.slug}:{self.mode}"

    @property
    def is_edit(self) -> bool:
        return self.mode == Mode.EDIT

    @cached_property
    def parameter_specs(self) -> list["ParameterSpec"]:
        return parameter_specs(model=self.model, mode=self.mode)

    @cached_property
    def price_micros(self) -> int | None:
        """What one image at the model's default size costs; None when no provider serves it."""
        request = GenerationRequest(mode=self.mode, model=self.model.slug, prompt="")
        try:
            return generation_quote(request=request).charge_micros
        except GatewayError:
            return None


def model_options() -> tuple[ModelOption, ...]:
    """Every active model in each of its modes, text to image first, in catalog order. Made once
    per process and version of the catalog, so each option works out its controls and its price
    once."""
    catalog = catalog_current()
    return catalog_memo(catalog.version, model_options, lambda: _options(catalog))


def _options(catalog: Catalog) -> tuple[ModelOption, ...]:
    return tuple(
        ModelOption(model=model, mode=mode, version=catalog.version)
        for mode in Mode.values
        for model in catalog.models
        if model.has_mode(mode)
    )


def option_find(options: Sequence[ModelOption], value: str | None) -> ModelOption | None:
    """The option named `value`: "slug:mode", or a bare slug for the model's first mode."""
    slug, _, mode = (value or "").partition(":")
    matches = [o for o in options if o.model.slug == slug and (not mode or o.mode == mode)]
    matches.sort(key=lambda option: option.model.modes.index(option.mode))
    return matches[0] if matches else None


@dataclass(frozen=True, kw_only=True)
class ParameterSpec:
    """One advanced control: a generation control of the catalog, or a provider's own flag."""

    name: str
    type: str  # boolean | integer | number | string
    description: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    default: str = ""
    provider: str = ""  # the provider's name, for its own flags

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


def parameter_specs(*, model: ImageModel, mode: str) -> list[ParameterSpec]:
    """The advanced controls of `model` in `mode`: the catalog's generation controls (cfg_scale,
    steps, strength...), then the flags of each provider selling it in that mode, as its adapter
    lists them, typed from the catalog where the catalog describes them."""
    described = {data["name"]: data for data in model.docs.get("parameters", [])}
    # The ranges the model's offerings accept in this mode, over the catalog's general ones.
    offerings = [o for o in model.offerings.all() if o.is_active and mode in o.modes]
    ranges = accepted_ranges([offering.takes for offering in offerings])
    for name, (low, high) in ranges.items():
        if name in described:
            described[name] = described[name] | {"min": low, "max": high}
    specs = [
        _spec(data)
        for data in described.values()
        if data.get("group") == "advanced" and mode in data.get("modes", ())
    ]
    names = catalog_current().provider_names
    sellers = sorted(model.offerings.all(), key=lambda offering: offering.provider)
    for slug in dict.fromkeys(o.provider for o in sellers if o.is_active and mode in o.modes):
        provider = PROVIDER_CLASSES.get(slug)
        for name, param in provider.parameters.items() if provider else ():
            data = described.get(name, {"name": name, "modes": [mode], "description": param.note})
            if (
                name in STANDARD_PARAMETERS
                or param.behaviour == Behaviour.IGNORED
                or mode not in data.get("modes", ())
                or any(spec.name == name for spec in specs)
            ):
                continue
            specs.append(_spec(data, provider=names.get(slug, slug)))
    return specs


def _spec(data: dict, *, provider: str = "") -> ParameterSpec:
    kind = data.get("type", "string")
    return ParameterSpec(
        name=data["name"],
        type=kind if kind in ("boolean", "integer", "number") else "string",
        description=data.get("description", ""),
        choices=tuple(data.get("choices", ())),
        minimum=data.get("min"),
        maximum=data.get("max"),
        default=str(data.get("default", "")),
        provider=provider,
    )


@dataclass(frozen=True, kw_only=True)
class RunPrice:
    """The price of a run (one or several requests) next to the balance, or why there is none."""

    charge_micros: int = 0  # likely: every request on its cheapest route
    hold_micros: int = 0  # held while it runs: the dearest routes
    balance_micros: int | None = None  # None for visitors
    starter_offer_micros: int = 0  # what verifying their email would add, when short
    is_demo: bool = False
    error: str = ""

    @property
    def is_short(self) -> bool:
        return (
            not self.error
            and self.balance_micros is not None
            and (self.balance_micros < self.hold_micros)
        )


def run_price(
    *,
    requests: Sequence[GenerationRequest],
    balance: int | None,
    error: str = "",
) -> RunPrice:
    """The price of `requests`, next to the user's balance (None for a visitor)."""
    if error:
        return RunPrice(balance_micros=balance, error=error)
    try:
        quotes = [generation_quote(request=request) for request in requests]
    except GatewayError as exc:
        return RunPrice(balance_micros=balance, error=exc.message)
    return RunPrice(
        charge_micros=sum(quote.charge_micros for quote in quotes),
        hold_micros=sum(quote.hold_micros for quote in quotes),
        balance_micros=balance,
        is_demo=any(quote.routes[0].provider == demo_provider().slug for quote in quotes),
    )


def generation_list_for(
    *, user: AbstractBaseUser, model: str = "", status: str = ""
) -> QuerySet[Generation]:
    """The user's generations, newest first, without the ones deleted from the history."""
    generations = (
        _history(user=user).select_related("model").defer("model__docs").prefetch_related("images")
    )
    if model:
        generations = generations.filter(model__slug=model)
    if status:
        generations = generations.filter(status=status)
    return generations


def _history(*, user: AbstractBaseUser) -> QuerySet[Generation]:
    return Generation.objects.filter(user=user, deleted_at__isnull=True)


def generation_list_recent(*, user: AbstractBaseUser) -> list[Generation]:
    """The user's latest generations, for their cards. A card kept rendered needs only its
    generation's id and end, so only the others are read with their model and images."""
    latest = list(_history(user=user).only("finished_at")[:RECENT_CARDS])
    kept = _cards_kept([g.pk for g in latest if g.finished_at], version=catalog_version())
    unkept = [generation.pk for generation in latest if generation.pk not in kept]
    read = {g.pk: g for g in generation_list_by_ids(user=user, ids=unkept)}
    return [read.get(generation.pk, generation) for generation in latest]


def _cards_kept(ids: list, *, version: int) -> set:
    """Of `ids`, those whose history card this process keeps rendered for this version of the
    catalog (the card shows the model's name)."""
    keys = {card_key(pk=pk, version=version): pk for pk in ids}
    return {keys[key] for key in caches["template_fragments"].get_many(keys)}


def card_key(*, pk, version: int, detail: bool | str = "") -> str:
    """The key of a kept card: the one `{% cache ... card generation.pk detail version %}`
    makes in studio/partials/card.html, where `detail` is "" on the list pages."""
    return make_template_fragment_key("card", [pk, detail, version])


def generation_list_by_ids(*, user: AbstractBaseUser, ids: list) -> list[Generation]:
    """The user's generations among `ids`, in the order of `ids`."""
    if not ids:  # no query to build
        return []
    found = {g.pk: g for g in generation_list_for(user=user).filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]


def image_list_for(*, user: AbstractBaseUser) -> QuerySet[GenerationImage]:
    """Result images of the user's generations, usable as inputs of an edit."""
    return (
        GenerationImage.objects.filter(generation__user=user, generation__deleted_at__isnull=True)
        .select_related("generation__model")
        .defer("generation__model__docs")
        .order_by("-generation__created_at", "index")
    )
