import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
import uvicorn
from django.core.cache import caches
from django.core.management import call_command
from django.core.signals import setting_changed

from playground import ratelimit
from playground.asgi import application
from playground.catalog.cache import catalog_version_bump
from tests import factories

pytest_plugins = ["tests.fakes.fixtures", "tests.browser"]


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    """Media in a temporary folder, playground jobs run as soon as they are queued."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.STARTER_CREDITS_USD = "1.00"
    settings.PROVIDER_RETRY_WAIT_SECONDS = 0.01
    # Rate limits, circuit breakers and rendered cards start afresh, and the catalog's version
    # with them: each test has a catalog of its own, or none.
    for each in caches.all():
        each.clear()


@pytest.fixture(autouse=True)
def _rate_limits_in_one_window(monkeypatch):
    """The rate limiter's clock stands still in the middle of a window: a test's requests are
    counted in one minute, even when the wall clock crosses into the next while it runs."""
    middle = (time.time() // ratelimit.WINDOW_SECONDS + 0.5) * ratelimit.WINDOW_SECONDS
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: middle))


@pytest.fixture(autouse=True, scope="session")
def _catalog_follows_settings():
    """Tests configure providers as they go: the process's read of the catalog, and the prices
    worked out from it, start again with each change, as after a deploy."""
    setting_changed.connect(catalog_version_bump)


@pytest.fixture
def catalog(db):
    call_command("load_catalog", verbosity=0, stdout=None)


@pytest.fixture
def user(db):
    return factories.user_with_account()


@pytest.fixture
def signed_in(client, user, catalog):
    """The test client, signed in as `user`, with the catalog loaded."""
    client.force_login(user)
    return client


@pytest.fixture
def queued_only(settings):
    """Jobs stay queued: nothing runs them."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def database_tasks(settings):
    """Jobs go to the database queue, for a worker (`run_tasks`, `db_worker`) to run."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


@pytest.fixture
def api_key(user, catalog):
    return factories.raw_api_key(user=user)


@pytest.fixture
def asgi_server(transactional_db):
    """The site under uvicorn in a thread (unlike `live_server`, which is WSGI): for behaviour
    that only ASGI has, such as cancelling a request whose client went away."""
    port = factories.free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        threading.Event().wait(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
