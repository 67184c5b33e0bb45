"""What the playground changes: it starts jobs and deletes them from the history."""

from functools import partial

from asgiref.sync import async_to_sync
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from playground.gateway import images
from playground.gateway.models import Generation
from playground.gateway.schemas import GenerationRequest
from playground.gateway.services import generation_submit
from playground.gateway.tasks import run_generation


class GenerationBusy(Exception):
    """The generation is still queued or running: the playground's own error, for a page only."""


def generation_start(
    *, user: AbstractBaseUser, request: GenerationRequest, base_url: str
) -> Generation:
    """Check the request, store its input images, hold the credits, and queue the job for the
    background worker. Raises the gateway's and the accounts' errors."""
    generation, _ = async_to_sync(generation_submit)(
        user=user, request=request, source=Generation.Source.PLAYGROUND, base_url=base_url
    )
    run_generation.enqueue(str(generation.pk))
    return generation


@transaction.atomic
def generation_delete(*, generation: Generation) -> None:
    """Take a finished generation out of its owner's history and delete its result and input
    files. The row stays for the credit ledger; its image rows go."""
    generation = Generation.objects.select_for_update().get(pk=generation.pk)
    if generation.finished_at is None:
        raise GenerationBusy("The job is still running: cancel it before deleting it.")
    names = generation.stored_names()
    generation.images.all().delete()
    Generation.objects.filter(pk=generation.pk).update(deleted_at=timezone.now())
    transaction.on_commit(partial(images.delete, names))
