"""Background work of the gateway: queued generations (playground jobs, async API calls), and
the sweep of generations whose job died, which re-queues itself to run on a schedule."""

from datetime import timedelta
from uuid import UUID

from django.tasks import task
from django.utils import timezone

from .services import generation_execute, generation_sweep_stale
from .webhooks import webhook_deliver

SWEEP_EVERY = timedelta(minutes=5)


@task()
async def run_generation(generation_id: str) -> str:
    """Run one queued generation, then call its webhook if the caller gave one."""
    generation = await generation_execute(generation_id=UUID(generation_id))
    if generation.params.get("webhook_url"):
        await webhook_deliver(generation=generation)
    return generation.status


@task()
def sweep_stale_generations() -> int:
    """Release what dead jobs held, then schedule the next sweep."""
    released = generation_sweep_stale()
    sweep_stale_generations.using(run_after=timezone.now() + SWEEP_EVERY).enqueue()
    return len(released)
