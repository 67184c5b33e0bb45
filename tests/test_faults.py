"""Provider faults end to end through the gateway under uvicorn, a worker killed mid-job, and the
database briefly unavailable.

For each provider fault: with another provider to fall back on, the request fails over and is
charged that provider's price; with none, it fails with a clear error in the envelope. Either
way the credits held are released and `Generation.attempts` / `error_message` say what happened.

Covered elsewhere: 500s and the 502 refund, a 429 with a short Retry-After, the circuit breaker
and a corrupt result that fails over (tests/test_gateway_routing.py); the sweep of a job queued
without a worker (tests/test_billing_faults.py).
"""

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from playground.accounts.models import Account, ApiKey, LedgerEntry
from playground.gateway import circuit
from playground.gateway.models import Generation
from playground.gateway.services import DEAD_AFTER
from playground.providers.fal import FalProvider
from tests import factories
from tests.fakes.fal import FalFake

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
READ_TIMEOUT_SECONDS = 0.5
MAX_WAIT_SECONDS = 0.3
START_MICROS = 1_000_000
REPLICATE_MICROS = 25_000  # qwen-image at Replicate: $0.025 an image
SIZE = "512x512"
# A request that outlives every fault's bound by far, and half a slow drip's whole answer: a
# hang here is a failure, not a wait; how long failing over takes is not asserted.
CLIENT_TIMEOUT_SECONDS = 10
WAIT_SECONDS = 20


# Fixtures


@pytest.fixture
def fast_providers(monkeypatch):
    """Short provider timeouts: reads give up after 0.5 s, a job after 0.3 s of polling."""
    monkeypatch.setenv("PROVIDER_READ_TIMEOUT_SECONDS", str(READ_TIMEOUT_SECONDS))
    monkeypatch.setattr(FalProvider, "max_wait", MAX_WAIT_SECONDS)


@pytest.fixture
def fal(fal, fast_providers):
    """The configured fal fake (tests/fakes/fixtures.py), with short provider timeouts."""
    return fal


@pytest.fixture
def replicate(replicate, fast_providers):
    return replicate


@pytest.fixture
def api(asgi_server, api_key):
    with factories.api_client(asgi_server, api_key, timeout=CLIENT_TIMEOUT_SECONDS) as client:
        yield client


def generate(api: httpx.Client, *, timeout: float = CLIENT_TIMEOUT_SECONDS) -> httpx.Response:
    return api.post(
        "/images/generations",
        json={"model": "qwen-image", "prompt": "a lighthouse at dawn", "size": SIZE},
        timeout=timeout,
    )


def only_generation() -> Generation:
    return Generation.objects.get()


def ledger_kinds(generation: Generation) -> list[str]:
    return list(generation.ledger_entries.order_by("pk").values_list("kind", flat=True))


def assert_released(user, generation: Generation) -> None:
    assert ledger_kinds(generation) == [LedgerEntry.Kind.HOLD, LedgerEntry.Kind.RELEASE]
    assert factories.balance_micros(user) == START_MICROS == factories.ledger_sum_micros(user)


def assert_charged_once(user, generation: Generation) -> None:
    assert ledger_kinds(generation) == [
        LedgerEntry.Kind.HOLD,
        LedgerEntry.Kind.RELEASE,
        LedgerEntry.Kind.CAPTURE,
    ]
    assert factories.balance_micros(user) == START_MICROS - generation.cost_micros
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)


# Provider faults: (set the fault up on the fake fal, what the attempt must say)

FAULTS: dict[str, tuple[Callable[[FalFake, pytest.MonkeyPatch], None], str]] = {
    "connection refused": (
        lambda fake, mp: mp.setenv(
            "FAL_QUEUE_BASE_URL", f"http://127.0.0.1:{factories.free_port()}"
        ),
        "could not be reached (ConnectError)",
    ),
    "a hang past the read timeout": (
        lambda fake, mp: fake.hang_next(times=10, on="submit"),
        "did not answer in time",
    ),
    "malformed JSON": (
        lambda fake, mp: fake.malformed_next(times=10, on="status"),
        "not JSON",
    ),
    "a queue that never finishes": (
        lambda fake, mp: fake.hold_jobs(),
        f"did not finish the job within {MAX_WAIT_SECONDS:g} s",
    ),
    "a result URL that 404s": (
        lambda fake, mp: fake.fail_next(404, times=10, on="file"),
        "fetching an image answered HTTP 404",
    ),
    "corrupt image bytes": (
        lambda fake, mp: fake.malformed_next(times=10, on="file"),
        "unreadable image",
    ),
    "a slow drip of the result image": (
        lambda fake, mp: fake.drip_next(times=10, on="file", every=0.05),
        f"fetching an image took longer than {READ_TIMEOUT_SECONDS:g} s",
    ),
    "a 429 asking for an hour": (
        lambda fake, mp: fake.fail_next(429, times=10, on="submit", retry_after="3600"),
        "answered 429",
    ),
}


@pytest.mark.parametrize(("fault", "says"), FAULTS.values(), ids=FAULTS.keys())
def test_a_fault_fails_over_and_charges_only_the_provider_that_worked(
    api, user, fal, replicate, monkeypatch, fault, says
):
    fault(fal, monkeypatch)

    response = generate(api)  # a hang fails at the client's timeout

    assert response.status_code == 200, response.text
    assert httpx.get(response.json()["data"][0]["url"]).status_code == 200
    generation = only_generation()
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.provider == "replicate"
    assert [a["provider"] for a in generation.attempts] == ["fal", "replicate"]
    assert says in generation.attempts[0]["error"]
    assert generation.attempts[1] | {"latency_ms": 0} == {
        "provider": "replicate",
        "status": 200,
        "error": "",
        "latency_ms": 0,
    }
    assert generation.cost_micros == REPLICATE_MICROS
    assert_charged_once(user, generation)


@pytest.mark.parametrize(("fault", "says"), FAULTS.values(), ids=FAULTS.keys())
def test_a_fault_with_no_other_provider_is_a_clear_502_and_a_full_refund(
    api, user, fal, monkeypatch, fault, says
):
    fault(fal, monkeypatch)

    response = generate(api)

    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    assert error["code"] == "provider_failed"
    assert error["message"]
    generation = only_generation()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_message == error["message"]
    assert generation.error_code == "provider_failed"
    assert [a["provider"] for a in generation.attempts] == ["fal"]
    assert says in generation.attempts[0]["error"]
    assert_released(user, generation)


def test_a_job_given_up_on_is_cancelled_upstream(api, fal):
    fal.hold_jobs()

    response = generate(api)

    assert response.status_code == 502
    submits = fal.requests_to("submit")
    assert submits
    fal.wait_for(lambda: len(fal.requests_to("cancel")) >= len(submits), timeout=2)


def test_a_slow_drip_of_an_answer_fails_over_in_bounded_time(api, user, fal, replicate):
    fal.drip_next(times=10, on="submit", every=0.05)  # ~400 bytes: 20 s for the whole answer

    try:
        response = generate(api)
    except httpx.ReadTimeout:
        pytest.fail(f"the gateway was still waiting after {CLIENT_TIMEOUT_SECONDS} s")

    assert response.status_code == 200
    generation = only_generation()
    assert "did not answer in time" in generation.attempts[0]["error"]
    assert_charged_once(user, generation)


def test_a_failure_and_a_success_of_one_provider_at_once_leave_the_count_of_one_order():
    """A success clears the failure count while a failure adds to it: the breaker ends as one
    of the two orders would leave it, no failure counted or exactly one, and closed."""

    async def scenario():
        await circuit.record_failure("fal")  # a count, for the next failure to add to
        await asyncio.gather(circuit.record_failure("fal"), circuit.record_success("fal"))
        after = await circuit.health(["fal"])
        for _ in range(circuit.THRESHOLD - 2):
            await circuit.record_failure("fal")
        short = await circuit.health(["fal"])
        await circuit.record_failure("fal")
        return after, short, await circuit.health(["fal"])

    after, short, threshold = asyncio.run(scenario())

    assert not after.open
    # THRESHOLD - 1 failures more open it if and only if the race left one failure counted.
    assert not short.open
    assert ("fal" in threshold.open) == ("fal" in after.failing)


# A worker killed in the middle of a job


@pytest.fixture
def workers(settings, tmp_path, database_tasks):
    """`workers()` starts a task worker (`manage.py run_tasks`, as production runs) on this
    test's database and media; every one still running is stopped after the test."""
    started: list[subprocess.Popen] = []
    log = (tmp_path / "workers.log").open("w")
    env = {name: value for name, value in os.environ.items() if name != "TASKS_BACKEND"} | {
        "DATABASE_URL": factories.database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "LOG_LEVEL": "WARNING",
    }

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_tasks", "--interval", "0.05"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    log.close()


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def queue(api: httpx.Client) -> Generation:
    """A generation accepted (held) and queued, as `Prefer: respond-async` does."""
    response = api.post(
        "/images/generations",
        json={"model": "qwen-image", "prompt": "a lighthouse at dawn", "size": SIZE},
        headers={"Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.text
    return Generation.objects.get(pk=response.json()["id"])


def a_minute_passes(generation: Generation) -> None:
    """The dead worker's heartbeat is now old enough for the sweep to call the job dead."""
    Generation.objects.filter(pk=generation.pk).update(
        heartbeat_at=timezone.now() - DEAD_AFTER - timedelta(seconds=1)
    )


def wait_until(predicate: Callable[[], bool], *, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout} s")
        threading.Event().wait(0.05)


def sweep(*arguments: str) -> str:
    out = io.StringIO()
    call_command("sweep_generations", *arguments, stdout=out)
    return out.getvalue()


def test_a_job_whose_worker_was_killed_is_resumed_from_its_upstream_job_and_paid_once(
    api, user, fal, workers, settings
):
    fal.hold_jobs()
    generation = queue(api)
    first = workers()
    fal.wait_for(lambda: fal.requests_to("status"), timeout=WAIT_SECONDS)  # submitted, saved

    kill(first)
    generation.refresh_from_db()
    young = sweep()
    a_minute_passes(generation)
    swept = sweep()
    again = sweep()
    fal.release_jobs()
    workers()
    wait_until(lambda: Generation.objects.get(pk=generation.pk).is_finished)

    assert generation.status == Generation.Status.RUNNING
    assert [entry["provider"] for entry in generation.upstream] == ["fal"]
    assert "0 generation(s) were resumed." in young  # its heartbeat was still fresh
    assert f"Resumed generation {generation.pk}" in swept
    assert "0 generation(s) were resumed." in again
    assert len(fal.requests_to("submit")) == 1  # collected, not submitted (and paid) again
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    image = generation.images.get()
    assert (Path(settings.MEDIA_ROOT) / image.file.name).is_file()
    assert_charged_once(user, generation)


def test_a_job_killed_before_the_provider_answered_is_released_once_by_the_sweep(
    api, user, fal, workers
):
    fal.hang_next(on="submit")
    generation = queue(api)
    worker = workers()
    fal.wait_for(lambda: fal.requests_to("submit"), timeout=WAIT_SECONDS)

    kill(worker)
    alive = sweep("--minutes", "0")
    a_minute_passes(generation)
    released = sweep("--minutes", "0")
    again = sweep("--minutes", "0")

    assert "0 stale generation(s) were released." in alive  # a fresh heartbeat: not touched
    assert f"Released the hold of generation {generation.pk}" in released
    assert "0 stale generation(s) were released." in again
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "abandoned"
    assert generation.error_message
    assert_released(user, generation)
    call_command("check_ledger", stdout=io.StringIO())


# The database briefly unavailable

LOCK_TIMEOUT_SECONDS = 0.3
LOCKED_MODELS = (ApiKey, Account, LedgerEntry, Generation)
WRITES = ("UPDATE", "INSERT", "DELETE")


@contextmanager
def database_locked() -> Iterator[None]:
    """Until the block ends, this test's connection holds SQLite's write lock (other writers
    wait; readers do not), or on PostgreSQL an exclusive lock on the tables requests use."""
    with transaction.atomic():  # on SQLite this is BEGIN IMMEDIATE: the write lock, at once
        if connection.vendor == "postgresql":
            tables = ", ".join(model._meta.db_table for model in LOCKED_MODELS)
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
        yield


@pytest.fixture
def impatient_database():
    """The site's connections give up on a lock after 0.3 s instead of waiting (20 s on
    SQLite, for ever on PostgreSQL)."""
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)
    if connection.vendor == "postgresql":
        options["options"] = f"-c lock_timeout={int(LOCK_TIMEOUT_SECONDS * 1000)}"
    else:
        options["timeout"] = LOCK_TIMEOUT_SECONDS
    reconnect_the_site()
    yield
    options.clear()
    options.update(saved)
    reconnect_the_site()


def reconnect_the_site() -> None:
    """Close the connection of the thread the site runs its sync code on (one per process, see
    playground/asgi.py), so that its next query connects with the options set now. From an
    event loop of its own, `sync_to_async` runs on that thread as the site's requests do."""
    closer = threading.Thread(target=asyncio.run, args=(sync_to_async(connections.close_all)(),))
    closer.start()
    closer.join(timeout=WAIT_SECONDS)


def a_request_waits_on_the_database() -> bool:
    """Whether a server thread is stuck on the lock: on PostgreSQL its backend waits for a
    lock; on SQLite a thread other than this one is inside a write statement."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else fixed for the transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] > 0
    me = threading.get_ident()
    return any(
        frame.f_code.co_name == "execute"
        and frame.f_code.co_filename.endswith(os.path.join("sqlite3", "base.py"))
        and str(frame.f_locals.get("query", "")).lstrip().upper().startswith(WRITES)
        for ident, frame in sys._current_frames().items()
        if ident != me
    )


def in_thread(call: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    """Start `call` in a thread; the returned function waits for its answer."""
    answer: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answer.append(call()), daemon=True)
    thread.start()

    def result() -> httpx.Response:
        thread.join(timeout=WAIT_SECONDS)
        assert answer, f"no answer in {WAIT_SECONDS} s"
        return answer[0]

    return result


def test_a_request_waits_out_a_brief_database_lock(api, user):
    with database_locked():
        answer = in_thread(lambda: generate(api))
        wait_until(a_request_waits_on_the_database)

    response = answer()
    assert response.status_code == 200, response.text
    generation = only_generation()
    assert generation.status == Generation.Status.SUCCEEDED
    assert_charged_once(user, generation)


def test_a_database_locked_too_long_is_a_503_in_the_envelope_and_costs_nothing(
    api, user, impatient_database
):
    entries = LedgerEntry.objects.count()

    with database_locked():
        response = generate(api)

    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert error["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert not Generation.objects.exists()
    assert LedgerEntry.objects.count() == entries
    assert factories.balance_micros(user) == START_MICROS == factories.ledger_sum_micros(user)
    assert generate(api).status_code == 200  # and it serves again once the lock is gone


def test_a_database_outage_mid_job_loses_neither_the_image_nor_the_credit(
    api, user, fal, workers, settings, impatient_database
):
    fal.hold_jobs()
    answer = in_thread(lambda: generate(api))
    fal.wait_for(lambda: fal.requests_to("status"), timeout=WAIT_SECONDS)  # submitted, saved

    with database_locked():
        fal.release_jobs()
        response = answer()  # the job finished upstream, but nothing can be recorded
    held = Generation.objects.get()
    held_kinds = ledger_kinds(held)
    a_minute_passes(held)
    swept = sweep()
    workers()
    wait_until(lambda: Generation.objects.get(pk=held.pk).is_finished)

    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert held.status == Generation.Status.RUNNING
    assert held_kinds == [LedgerEntry.Kind.HOLD]
    assert f"Resumed generation {held.pk}" in swept
    generation = Generation.objects.get(pk=held.pk)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    assert len(fal.requests_to("submit")) == 1
    image = generation.images.get()
    assert (Path(settings.MEDIA_ROOT) / image.file.name).is_file()
    assert_charged_once(user, generation)
