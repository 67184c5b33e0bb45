"""Background work of the gateway: queued generations (playground jobs, async API calls)."""

from uuid import UUID

from django.tasks import task

from .services import generation_execute
from .webhooks import webhook_deliver


@task()
async def run_generation(generation_id: str) -> str:
    """Run one queued generation, then call its webhook if the caller gave one."""
    generation = await generation_execute(generation_id=UUID(generation_id))
    if generation.params.get("webhook_url"):
        await webhook_deliver(generation=generation)
    return generation.status
