"""A job whose worker died after submitting upstream is resumed from the saved request, not
submitted (and paid) again."""

from datetime import timedelta

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.utils import timezone

from playground.accounts.models import LedgerEntry
from playground.gateway.models import Generation
from playground.gateway.schemas import GenerationRequest
from playground.gateway.services import generation_submit
from playground.providers.base import ProviderJob
from playground.providers.fal import FalProvider
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def left_by_a_dead_worker(user, fal_fake, *, heartbeat_age: timedelta) -> Generation:
    """A generation as a killed worker leaves it: held, running, its fal job submitted."""
    generation, _ = async_to_sync(generation_submit)(
        user=user,
        request=GenerationRequest(mode="generate", model="qwen-image", prompt="resume me"),
        source=Generation.Source.PLAYGROUND,
        base_url="http://testserver/",
    )
    adapter = FalProvider(api_key=fal_fake.api_key, base_url=fal_fake.base_url)
    job = ProviderJob(
        model_id="fal-ai/qwen-image", prompt="resume me", width=1024, height=1024, seed=1
    )

    async def submit():
        async with httpx.AsyncClient() as client:
            return await adapter.submit(job, client)

    handle = async_to_sync(submit)()
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        started_at=timezone.now() - heartbeat_age,
        heartbeat_at=timezone.now() - heartbeat_age,
        upstream=[{"provider": "fal", "handle": handle}],
    )
    return generation


def test_the_sweep_resumes_from_the_saved_request_and_charges_once(
    user, catalog, fal_fake, provider_env, fast_polling
):
    provider_env(fal_fake)
    generation = left_by_a_dead_worker(user, fal_fake, heartbeat_age=timedelta(minutes=5))

    call_command("sweep_generations", stdout=None)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert len(fal_fake.requests_to("submit")) == 1  # collected, not submitted again
    assert generation.images.count() == 1
    captures = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CAPTURE)
    assert [entry.amount_micros for entry in captures] == [-generation.cost_micros]
    assert factories.balance_micros(user) == factories.ledger_sum_micros(user)


def test_a_job_with_a_recent_heartbeat_is_left_alone(
    user, catalog, fal_fake, provider_env, fast_polling
):
    provider_env(fal_fake)
    generation = left_by_a_dead_worker(user, fal_fake, heartbeat_age=timedelta(seconds=5))

    call_command("sweep_generations", "--minutes", "0", stdout=None)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING
    assert not LedgerEntry.objects.filter(generation=generation, kind="release").exists()


def test_a_job_planned_before_routes_carried_their_fit_is_resumed(
    user, catalog, fal_fake, provider_env, fast_polling
):
    """Routes saved before the gateway fitted requests to offerings hold only the provider, its
    model id and the cost; such a job still resumes, at the generation's own size."""
    provider_env(fal_fake)
    generation = left_by_a_dead_worker(user, fal_fake, heartbeat_age=timedelta(minutes=5))
    old = [
        {key: route[key] for key in ("provider", "provider_model_id", "cost_micros")}
        for route in generation.routes
    ]
    Generation.objects.filter(pk=generation.pk).update(routes=old)

    call_command("sweep_generations", stdout=None)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert factories.balance_micros(user) == factories.ledger_sum_micros(user)
