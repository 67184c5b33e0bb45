import asyncio
import time
from collections.abc import AsyncIterator

from django.db.models import Prefetch

from playground.accounts.money import usd_str
from playground.catalog.models import ImageModel, Offering
from playground.catalog.pricing import price_micros

from .models import Generation
from .normalize import resolve_size

FINISH_POLL_SECONDS = 0.25
FINISH_WAIT_SECONDS = 900


async def generation_aget(*, pk, user_id: int) -> Generation | None:
    return await Generation.objects.select_related("model").filter(pk=pk, user_id=user_id).afirst()


async def generation_await_finished(*, pk) -> Generation:
    """The generation once it has finished (a retry with the same key while the first runs)."""
    deadline = time.monotonic() + FINISH_WAIT_SECONDS
    while True:
        generation = await Generation.objects.select_related("model").aget(pk=pk)
        if generation.is_finished or time.monotonic() > deadline:
            return generation
        await asyncio.sleep(FINISH_POLL_SECONDS)


async def model_objects(*, slug: str | None = None) -> AsyncIterator[dict]:
    """`/v1/models` entries: OpenAI's model object plus modes, sizes and the starting price."""
    models = ImageModel.objects.filter(is_active=True).prefetch_related(
        Prefetch("offerings", queryset=Offering.objects.filter(is_active=True))
    )
    if slug is not None:
        models = models.filter(slug=slug)
    async for model in models:
        width, height = resolve_size(model.sizes)
        prices = [
            price_micros(
                price_micros=offering.price_micros,
                price_unit=offering.price_unit,
                width=width,
                height=height,
                n=1,
            )
            for offering in model.offerings.all()
        ]
        yield {
            "id": model.slug,
            "object": "model",
            "created": int(model.created_at.timestamp()),
            "owned_by": model.vendor.lower(),
            "name": model.name,
            "modes": model.modes,
            "sizes": model.sizes["tiers"],
            "default_size": f"{width}x{height}",
            "price_from_usd": usd_str(min(prices)) if prices else None,
        }
