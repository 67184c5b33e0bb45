from uuid import UUID

from django.tasks import task

from playground.gateway.services import generation_execute


@task()
async def run_generation(generation_id: str) -> str:
    """Run one queued playground generation; the page follows it by polling its card."""
    generation = await generation_execute(generation_id=UUID(generation_id))
    return generation.status
