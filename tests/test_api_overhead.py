"""What a request costs the server, through the ASGI server: an API call skips the browser's
middleware, runs a bounded number of SQL statements and goes to the sync thread only for its
data; a page runs in one trip to the sync thread; a queued job reads no images before it has
any; what the process loaded is left out of the garbage collector's passes."""

import gc
import importlib
import time

import httpx
import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from django.db.backends import utils
from django.test import Client

from playground.gateway.models import Generation
from playground.gateway.schemas import GenerationRequest
from playground.gateway.services import generation_execute, generation_submit

pytestmark = pytest.mark.django_db(transaction=True)

# Authentication 0 (the key is cached); create 4 (the insert; the hold: balance, ledger, the
# key's spend); finish 7 (update, images, the hold with its account locked, which gives the
# balance header, a savepoint around balance and release-and-capture); SQLite's 2 BEGINs. The
# catalog comes from the process's own read of it (`catalog_current`).
API_GENERATION_STATEMENTS = 13


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """Every SQL statement the process runs from now on, on any thread and connection."""
    seen = []
    execute = utils.CursorWrapper._execute

    def recorded(self, sql, *args):
        seen.append(sql)
        return execute(self, sql, *args)

    monkeypatch.setattr(utils.CursorWrapper, "_execute", recorded)
    return seen


@pytest.fixture
def trips(monkeypatch) -> list[str]:
    """The name of every function the process runs in a trip to a sync thread from now on."""
    seen = []
    call = SyncToAsync.__call__

    def counted(self, *args, **kwargs):
        seen.append(getattr(self.func, "__name__", repr(self.func)))
        return call(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return seen


def trips_of_one_request(trips: list[str]) -> list[str]:
    """The trips, once the response's close (made after the answer is sent) has come too."""
    deadline = time.monotonic() + 5
    while "close" not in trips and time.monotonic() < deadline:
        time.sleep(0.01)
    return trips


def generate(base_url: str, api_key: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/images/generations",
        json={"model": "qwen-image", "prompt": "a lighthouse", "size": "256x256"},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )


def test_an_api_call_skips_the_browser_middleware(asgi_server, api_key):
    api = generate(asgi_server, api_key)
    page = httpx.get(f"{asgi_server}/models/")

    assert api.status_code == 200
    assert "x-frame-options" not in api.headers  # no clickjacking guard, session or CSRF
    assert "Cookie" not in api.headers.get("vary", "")
    assert api.headers["x-content-type-options"] == "nosniff"  # the security middleware ran
    assert page.headers["x-frame-options"] == "DENY"


def test_an_api_generation_runs_a_bounded_number_of_statements(asgi_server, api_key, statements):
    generate(asgi_server, api_key)  # the first call warms caches (the key's last use)
    statements.clear()

    assert generate(asgi_server, api_key).status_code == 200
    assert len(statements) <= API_GENERATION_STATEMENTS, "\n".join(statements)


def test_a_page_runs_its_middleware_and_view_in_one_trip_to_the_sync_thread(
    asgi_server, user, trips
):
    signed_in = Client()
    signed_in.force_login(user)
    session = signed_in.cookies["sessionid"].value

    page = httpx.get(f"{asgi_server}/playground/", cookies={"sessionid": session})

    assert page.status_code == 200
    assert user.username in page.text  # signed in: the session and auth middleware ran
    # Django's own: the request_started signal, the page, and the response's close.
    assert trips_of_one_request(trips) == ["sync_send", "get_response", "close"]


def test_an_api_generation_goes_to_the_sync_thread_only_for_its_data(asgi_server, api_key, trips):
    assert generate(asgi_server, api_key).status_code == 200

    # Django's request_started; the key and rate limits; the hold; the settle; the response's
    # close. The security middleware's check and headers are made on the event loop.
    assert trips_of_one_request(trips) == [
        "sync_send",
        "_admit",
        "generation_create",
        "_generation_finish",
        "close",
    ]


def test_a_queued_job_runs_without_reading_images_it_cannot_have_yet(
    user, catalog, statements, settings
):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    generation, _ = async_to_sync(generation_submit)(
        user=user,
        request=GenerationRequest(mode="generate", model="qwen-image", prompt="a lighthouse"),
        source=Generation.Source.PLAYGROUND,
        base_url="http://testserver/",
    )
    statements.clear()

    finished = async_to_sync(generation_execute)(generation_id=generation.pk)

    assert finished.status == Generation.Status.SUCCEEDED
    assert len(finished.image_list) == 1
    reads = [sql for sql in statements if sql.startswith("SELECT")]
    assert reads and not [sql for sql in reads if "generationimage" in sql], reads


def test_the_loaded_application_is_frozen_out_of_garbage_collection():
    importlib.reload(importlib.import_module("playground.asgi"))

    assert gc.get_freeze_count() > 10_000  # Django, the site's modules and their objects
