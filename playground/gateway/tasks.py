"""Background work of the gateway: queued generations (playground jobs, async API calls), the
retries of their webhooks, and the sweep of generations whose job died, which re-queues itself
to run on a schedule."""

from datetime import timedelta
from uuid import UUID

from django.tasks import task
from django.utils import timezone

from .models import Generation
from .runner import Start, generation_run
from .selectors import generations_answerable
from .services import generation_sweep_stale
from .webhooks import webhook_attempt

SWEEP_EVERY = timedelta(minutes=1)


@task()
async def run_generation(generation_id: str) -> str:
    """Run one queued generation, then call its webhook if the caller gave one."""
    return await _run(generation_id, Start.QUEUED)


@task()
async def resume_generation(generation_id: str) -> str:
    """Finish a generation whose worker died, from the upstream jobs it had submitted."""
    return await _run(generation_id, Start.RESUMED)


async def _run(generation_id: str, start: Start) -> str:
    generation = (await generation_run(UUID(generation_id), start=start)).generation
    if generation.params.get("webhook_url"):
        await _deliver(generation, attempt=1)
    return generation.status


@task()
async def deliver_webhook(generation_id: str, attempt: int) -> int | None:
    """Try a generation's webhook again, unless the generation was deleted meanwhile."""
    generation = await generations_answerable().aget(pk=generation_id)
    if generation.deleted_at:
        return None
    return await _deliver(generation, attempt=attempt)


async def _deliver(generation: Generation, *, attempt: int) -> int | None:
    """One attempt at the webhook, and the next one queued for later if it failed."""
    delivery = await webhook_attempt(generation=generation, attempt=attempt)
    if delivery.next_attempt_at:
        await deliver_webhook.using(run_after=delivery.next_attempt_at).aenqueue(
            str(generation.pk), attempt + 1
        )
    return delivery.status_code


@task()
def sweep_stale_generations() -> dict:
    """Resume or release what dead jobs left, then schedule the next sweep."""
    resumed, released = generation_sweep_stale()
    sweep_stale_generations.using(run_after=timezone.now() + SWEEP_EVERY).enqueue()
    return {"resumed": len(resumed), "released": len(released)}
