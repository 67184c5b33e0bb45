"""Faults around money: a provider failing after the hold, a worker dying mid-job, a retried call,
and the stale-hold sweep racing a late settle."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from playground.accounts.models import LedgerEntry
from playground.accounts.services import credits_release_stale, credits_settle
from playground.gateway.models import Generation
from tests import factories

SWEPT_MEMO = "Released: the job stopped without finishing"


@pytest.fixture
def no_worker(settings):
    """Queued jobs never run, as when every worker has died."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def failing_fal(fal_fake, provider_env, settings):
    """fal configured (the only provider of qwen-image here) and answering 500, without retries."""
    settings.PROVIDER_ATTEMPTS = 1
    provider_env(fal_fake)
    fal_fake.fail_next(500, times=10)
    return fal_fake


def queue_jobs(server_url: str, user, count: int) -> list[Generation]:
    """Jobs accepted by the API (held, queued) that no worker will run."""
    return factories.api_images(
        server_url, user, *(f"job {n}" for n in range(count)), respond_async=True
    )


def ledger_of(generation: Generation) -> list[tuple[str, int]]:
    return list(
        LedgerEntry.objects.filter(generation=generation)
        .order_by("pk")
        .values_list("kind", "amount_micros")
    )


def sweep(*arguments: str) -> str:
    out = io.StringIO()
    call_command("sweep_generations", *arguments, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_provider_failing_after_the_hold_releases_all_of_it(
    live_server, api_key, user, failing_fal
):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)

    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="qwen-image", prompt="x", size=factories.SIZE)

    assert caught.value.status_code == 502
    assert failing_fal.requests_to("submit")  # the provider was called, after the hold
    generation = Generation.objects.get(user=user)
    assert generation.status == Generation.Status.FAILED
    assert ledger_of(generation) == [
        (LedgerEntry.Kind.HOLD, -generation.hold_micros),
        (LedgerEntry.Kind.RELEASE, generation.hold_micros),
    ]
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_died_is_released_by_the_sweep_once(
    live_server, user, catalog, no_worker
):
    (generation,) = queue_jobs(live_server.url, user, 1)
    held = factories.balance_micros(user)

    too_young = sweep()
    dry_run = sweep("--minutes", "0", "--dry-run")
    released = sweep("--minutes", "0")
    again = sweep("--minutes", "0")

    assert held == 1_000_000 - generation.hold_micros
    assert "0 stale generation(s) were released." in too_young
    assert str(generation.pk) in dry_run
    assert "1 stale generation(s) were released." in released
    assert "0 stale generation(s) were released." in again
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "abandoned"
    assert ledger_of(generation) == [
        (LedgerEntry.Kind.HOLD, -generation.hold_micros),
        (LedgerEntry.Kind.RELEASE, generation.hold_micros),
    ]
    assert LedgerEntry.objects.get(kind=LedgerEntry.Kind.RELEASE).memo == SWEPT_MEMO
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)
    call_command("check_ledger", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_settle_arriving_after_the_sweep_changes_nothing(live_server, user, catalog, no_worker):
    (generation,) = queue_jobs(live_server.url, user, 1)
    credits_release_stale(held_before=timezone.now())

    settled = credits_settle(generation_id=generation.pk, cost_micros=generation.hold_micros)

    assert settled is None
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CAPTURE).exists()
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_racing_settles_releases_each_hold_exactly_once(live_server, catalog, no_worker):
    user = factories.user_with_account(credits_usd=5)
    generations = queue_jobs(live_server.url, user, 12)
    start = threading.Barrier(len(generations) + 1)

    def in_thread(work):
        try:
            start.wait()
            return work()
        finally:
            connections.close_all()

    def settle(generation: Generation):
        return in_thread(
            lambda: credits_settle(generation_id=generation.pk, cost_micros=generation.hold_micros)
        )

    with ThreadPoolExecutor(len(generations) + 1) as pool:
        swept = pool.submit(in_thread, lambda: credits_release_stale(held_before=timezone.now()))
        settled = list(pool.map(settle, generations))

    by_settle = {g.pk for g, won in zip(generations, settled, strict=True) if won is not None}
    assert by_settle.isdisjoint(swept.result())
    assert by_settle | set(swept.result()) == {g.pk for g in generations}
    for generation in generations:
        releases = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.RELEASE)
        captures = LedgerEntry.objects.filter(generation=generation, kind=LedgerEntry.Kind.CAPTURE)
        assert releases.count() == 1
        assert captures.count() == (1 if generation.pk in by_settle else 0)
    charged = sum(g.hold_micros for g in generations if g.pk in by_settle)
    assert factories.balance_micros(user) == 6_000_000 - charged
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)


@pytest.mark.django_db(transaction=True)
def test_a_retried_call_with_an_idempotency_key_is_charged_once(live_server, api_key, user):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)
    headers = {"Idempotency-Key": "retry-me"}

    first = client.images.with_raw_response.generate(
        model="qwen-image", prompt="once", size=factories.SIZE, extra_headers=headers
    )
    retry = client.images.with_raw_response.generate(
        model="qwen-image", prompt="once", size=factories.SIZE, extra_headers=headers
    )

    assert first.headers["x-generation-id"] == retry.headers["x-generation-id"]
    generation = Generation.objects.get(user=user)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CAPTURE).count() == 1
    assert factories.balance_micros(user) == 1_000_000 - generation.cost_micros
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)
