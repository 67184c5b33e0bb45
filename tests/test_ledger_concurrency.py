"""Many clients spending one balance through the API at once, served by two processes: exactly
the affordable ones pass.

The site runs as it is scaled out: two uvicorn processes on one database, the requests sent to
them in turn. Within one process the requests' database work shares one thread and one
connection (playground/asgi.py), so their holds and settles run one after the other and cannot
race; across processes they run at the same time, and only the conditional updates of the
balance and of the key's spend (playground/accounts/ledger.py) keep them from spending what is
not there. On PostgreSQL the two processes' transactions interleave: a balance read, computed
and saved instead fails here (more charged than affordable, a balance that lost updates). On
SQLite each transaction takes the database's one write lock as it begins (`transaction_mode`
IMMEDIATE), so the processes wait on each other: there the test shows that they wait rather
than fail. Runs on SQLite and on PostgreSQL (`DATABASE_URL`).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from playground.accounts.models import Account, ApiKey, LedgerEntry
from playground.accounts.money import usd_to_micros
from playground.accounts.services import credits_grant
from playground.gateway.models import Generation
from playground.providers.registry import PROVIDER_CLASSES
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
K = 25
REQUESTS = 4 * K
PROCESSES = 2
STARTUP_SECONDS = 60
UVICORN = [sys.executable, "-m", "uvicorn", "playground.asgi:application", "--host", "127.0.0.1"]
UVICORN += ["--no-access-log"]
REQUEST_TIMEOUT_SECONDS = 60
# Settings of the host that must not reach the site under test: it serves the demo provider.
FOREIGN_ENV = {
    "DATABASE_URL",
    "REDIS_URL",
    "STORAGE_BUCKET",
    "TASKS_BACKEND",
    *(name for cls in PROVIDER_CLASSES.values() for name in (cls.key_env, cls.base_url_env)),
}


@pytest.fixture
def two_processes(transactional_db, settings, tmp_path):
    """The site in two uvicorn processes on this test's database and media; their base URLs
    once both serve. Two servers on two ports rather than `--workers 2` on one: the kernel
    hands nearly all of a burst of connections to whichever worker accepts first (48 of 52
    here), and each half of the requests must reach a process of its own. Stopped, with their
    process groups, after the test."""
    env = {name: value for name, value in os.environ.items() if name not in FOREIGN_ENV} | {
        "DJANGO_SETTINGS_MODULE": "playground.settings",
        "DATABASE_URL": factories.database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "API_RATE_LIMIT_PER_MINUTE": "100000",  # each process counts on its own
        "API_RATE_LIMIT_PER_IP_PER_MINUTE": "100000",
        "LOG_LEVEL": "WARNING",
    }
    servers: list[tuple[subprocess.Popen, Path, str]] = []
    try:
        for index in range(PROCESSES):
            port, log = factories.free_port(), tmp_path / f"uvicorn-{index}.log"
            with log.open("w") as output:
                server = subprocess.Popen(
                    [*UVICORN, "--port", str(port)],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            servers.append((server, log, f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + STARTUP_SECONDS
        for server, log, _ in servers:
            while "Application startup complete" not in log.read_text(errors="replace"):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not start:\n{log.read_text()}")
                threading.Event().wait(0.05)
        yield [url for _, _, url in servers]
    finally:
        for server, _, _ in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server, _, _ in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=15)


@pytest.mark.parametrize(
    ("limited_by", "code"),
    [("balance", "insufficient_credits"), ("key spend limit", "spend_limit_reached")],
)
def test_what_pays_for_exactly_k_images_allows_exactly_k_of_4k_concurrent_requests(
    two_processes, catalog, settings, limited_by, code
):
    (probe,) = factories.api_images(
        two_processes[0], factories.user_with_account(), "what does one cost"
    )
    price = probe.cost_micros
    settings.STARTER_CREDITS_USD = "0"
    user = factories.user_with_account()
    balance = K * price if limited_by == "balance" else 100 * K * price
    credits_grant(account=Account.objects.get(user=user), amount_micros=balance, memo="credits")
    key = factories.raw_api_key(
        user=user, spend_limit_micros=K * price if limited_by == "key spend limit" else None
    )
    clients = [  # the requests go to the two processes in turn
        openai.OpenAI(
            base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=REQUEST_TIMEOUT_SECONDS
        )
        for url in two_processes
    ]
    start = threading.Barrier(REQUESTS)

    remaining = []

    def call(index: int) -> int:
        start.wait()
        try:
            raw = clients[index % PROCESSES].images.with_raw_response.generate(
                model="qwen-image", prompt=f"race {index}", size=factories.SIZE
            )
        except openai.APIStatusError as exc:
            return exc.status_code if exc.body["code"] == code else exc
        remaining.append(usd_to_micros(raw.headers["x-credits-remaining"]))
        return 200

    with ThreadPoolExecutor(REQUESTS) as pool:
        statuses = list(pool.map(call, range(REQUESTS)))

    assert (statuses.count(200), statuses.count(402)) == (K, REQUESTS - K), statuses
    assert factories.balance_micros(user) == balance - K * price
    assert factories.balance_micros(user) >= 0
    # Each answer's balance is the one its settle left: the last settle's is the final one.
    assert min(remaining) == factories.balance_micros(user)
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)
    charges = LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.CAPTURE)
    assert sorted(charges.values_list("amount_micros", flat=True)) == [-price] * K
    assert Generation.objects.filter(user=user, status=Generation.Status.SUCCEEDED).count() == K
    assert ApiKey.objects.get(user=user).spent_micros == K * price
