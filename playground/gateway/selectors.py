import asyncio
import time
from dataclasses import dataclass

from django.db.models import F, Prefetch, QuerySet, TextChoices, Window
from django.db.models.functions import RowNumber

from playground.accounts.money import usd_str
from playground.catalog.models import ImageModel, ordered_tiers
from playground.catalog.selectors import catalog_current, model_entries
from playground.providers.registry import configured_providers, demo_provider

from . import circuit
from .models import Generation, GenerationImage, WebhookDelivery

FINISH_POLL_SECONDS = 0.25
FINISH_WAIT_SECONDS = 900
GALLERY_SIZE = 12  # the most images a gallery shows


def generations_answerable() -> QuerySet[Generation]:
    """Generations with what an answer about them reads: the model, and the images in order
    as `image_list` (which the runner also sets when it stores them)."""
    return (
        Generation.objects.select_related("model")
        .defer("model__docs")
        .prefetch_related(Prefetch("images", to_attr="image_list"))
    )


async def generation_aget(*, pk, user_id: int) -> Generation | None:
    return await generations_answerable().filter(pk=pk, user_id=user_id).afirst()


async def generation_await_finished(*, pk) -> Generation:
    """The generation once it has finished (a retry with the same key while the first runs)."""
    deadline = time.monotonic() + FINISH_WAIT_SECONDS
    while True:
        generation = await generations_answerable().aget(pk=pk)
        if generation.is_finished or time.monotonic() > deadline:
            return generation
        await asyncio.sleep(FINISH_POLL_SECONDS)


def webhook_delivery_list(*, generation: Generation) -> list[WebhookDelivery]:
    """The attempts at a generation's webhook, first to last."""
    return list(WebhookDelivery.objects.filter(generation=generation).order_by("attempt"))


def model_objects(*, slug: str | None = None) -> list[dict]:
    """`/v1/models` entries: OpenAI's model object plus modes, sizes and the starting price."""
    return [
        {
            "id": entry.model.slug,
            "object": "model",
            "created": int(entry.model.created_at.timestamp()),
            "owned_by": entry.model.vendor.lower(),
            "name": entry.model.name,
            "modes": entry.model.modes,
            "sizes": ordered_tiers(entry.model.sizes),
            "default_size": "x".join(map(str, entry.model.default_size)),
            "price_from_usd": usd_str(entry.cheapest.image_price_micros)
            if entry.cheapest
            else None,
        }
        for entry in model_entries(slug=slug)
    ]


class ServiceState(TextChoices):
    """A provider's or a model's state on the status page, best first."""

    UP = "up", "Operational"
    DEGRADED = "degraded", "Degraded"  # failures counted; still tried
    DOWN = "down", "Unavailable"  # circuit open (skipped for now), or no provider serves it


@dataclass(frozen=True, kw_only=True)
class ProviderStatus:
    slug: str
    name: str
    state: ServiceState


@dataclass(frozen=True, kw_only=True)
class ModelStatus:
    slug: str
    name: str
    state: ServiceState
    providers: list[str]  # names of the providers that would serve it


@dataclass(frozen=True, kw_only=True)
class ServiceStatus:
    providers: list[ProviderStatus]
    models: list[ModelStatus]
    is_demo: bool  # no real provider is configured: the demo provider serves every model


def service_status() -> ServiceStatus:
    """The configured providers as their circuit breakers see them (one read of the cache), and
    each active model as well as its best provider is: what `router.route_plan` would route it
    to. Without real providers, the demo serves every model that has an offering."""
    catalog = catalog_current()
    configured = configured_providers() or {demo_provider().slug: demo_provider()}
    health = circuit.health_read(configured)
    providers = {
        slug: ProviderStatus(
            slug=slug,
            name=catalog.provider_names.get(slug, provider.label),
            state=_provider_state(slug, health),
        )
        for slug, provider in configured.items()
    }
    everywhere = [
        slug
        for slug, provider in configured.items()
        if provider.serves_every_model or provider.is_demo
    ]
    return ServiceStatus(
        providers=list(providers.values()),
        models=[_model_status(model, providers, everywhere) for model in catalog.models],
        is_demo=demo_provider().slug in providers,
    )


def _model_status(
    model: ImageModel, providers: dict[str, ProviderStatus], everywhere: list[str]
) -> ModelStatus:
    """A model that none of `providers` serves is down; otherwise it is as its best one is. Those
    that serve `everywhere` serve only models with an active offering, as the router does."""
    offered = [offering.provider for offering in model.offerings.all() if offering.is_active]
    slugs = dict.fromkeys([*offered, *everywhere] if offered else [])
    serving = [providers[slug] for slug in slugs if slug in providers]
    state = min(
        (provider.state for provider in serving),
        key=list(ServiceState).index,
        default=ServiceState.DOWN,
    )
    return ModelStatus(
        slug=model.slug,
        name=model.name,
        state=state,
        providers=[provider.name for provider in serving],
    )


def _provider_state(slug: str, health: circuit.Health) -> ServiceState:
    if slug in health.open:
        return ServiceState.DOWN
    if slug in health.failing:
        return ServiceState.DEGRADED
    return ServiceState.UP


def _images_shown() -> QuerySet[GenerationImage]:
    """Images the galleries show: published, not hidden, of a succeeded generation still in its
    owner's history; newest first, with the run their captions read in the query."""
    return (
        GenerationImage.objects.filter(
            published_at__isnull=False,
            hidden_at__isnull=True,
            generation__status=Generation.Status.SUCCEEDED,
            generation__deleted_at__isnull=True,
        )
        .select_related("generation")
        .defer(
            "generation__routes",
            "generation__attempts",
            "generation__upstream",
            "generation__progress",
        )
        .order_by("-published_at", "-pk")
    )


def _with_model(images: QuerySet[GenerationImage]) -> QuerySet[GenerationImage]:
    return images.select_related("generation__model").defer("generation__model__docs")


def gallery_list(
    *, model: ImageModel | None = None, limit: int = GALLERY_SIZE
) -> list[GenerationImage]:
    """The newest images of `model`'s gallery, or of all the galleries, each with its run and
    the run's model."""
    if model is None:
        return list(_with_model(_images_shown())[:limit])
    images = list(_images_shown().filter(generation__model=model)[:limit])
    for image in images:  # the model is known: no need to read it again
        image.generation.model = model
    return images


def gallery_covers() -> dict[int, GenerationImage]:
    """Each model's newest shown image by model id, in one query."""
    ranked = _with_model(_images_shown()).annotate(
        rank=Window(
            RowNumber(),
            partition_by=F("generation__model_id"),
            order_by=[F("published_at").desc(), F("pk").desc()],
        )
    )
    return {image.generation.model_id: image for image in ranked.filter(rank=1)}


def gallery_image_get(*, pk) -> GenerationImage | None:
    """A shown image, for "reuse these settings"."""
    return _with_model(_images_shown()).filter(pk=pk).first()
