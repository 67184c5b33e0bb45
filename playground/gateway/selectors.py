import asyncio
import time

from django.db.models import Prefetch, QuerySet

from playground.accounts.money import usd_str
from playground.catalog.models import ordered_tiers
from playground.catalog.selectors import model_entries

from .models import Generation

FINISH_POLL_SECONDS = 0.25
FINISH_WAIT_SECONDS = 900


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
