"""Background work of the gateway: queued generations (playground jobs, async API calls), and
the sweep of generations whose job died, which re-queues itself to run on a schedule."""

from datetime import timedelta
from uuid import UUID

from django.tasks import task
from django.utils import timezone

from .runner import Start, generation_run
from .services import generation_sweep_stale
from .webhooks import webhook_deliver

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
        await webhook_deliver(generation=generation)
    return generation.status


@task()
def sweep_stale_generations() -> dict:
    """Resume or release what dead jobs left, then schedule the next sweep."""
    resumed, released = generation_sweep_stale()
    sweep_stale_generations.using(run_after=timezone.now() + SWEEP_EVERY).enqueue()
    return {"resumed": len(resumed), "released": len(released)}
