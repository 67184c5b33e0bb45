"""Performance guarantees: what a request costs the server, pinned so that a change which makes
it cost more fails here and not only in a benchmark (bench/).

An API generation runs a fixed, small number of SQL statements and reads nothing it has read
before (the key, the catalog); an API call skips the browser's middleware; a queued job reads no
images before it has any; what the process loaded is left out of the garbage collector's passes.

Everything here is counted through public means only: Django's `CaptureQueriesContext` and
pytest-django's query-count fixtures, response headers, `gc.get_freeze_count()`. The queries
are made through Django's test client, whose database work runs on the test's own thread and
connection, where those count it. Nothing here names a private function or patches a library.
"""

import gc
import importlib

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from playground.gateway.models import Generation
from playground.gateway.runner import Start, generation_run
from playground.gateway.schemas import GenerationRequest
from playground.gateway.services import generation_submit

pytestmark = pytest.mark.django_db(transaction=True)

# Two transactions, as the database sees them. The create: BEGIN, the generation's insert, the
# hold (the balance, its ledger row, the key's spend), COMMIT. The finish: BEGIN, the
# generation's update, its image, the hold's read, a savepoint around the settle (the balance,
# the release-and-capture rows), the check of auto top-up's and the low-balance notice's
# thresholds (one conditional update), COMMIT.
# Authentication reads the key from the cache and the catalog comes from the process's own read
# of it: neither queries.
API_GENERATION_QUERIES = 16
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
BODY = {"model": "qwen-image", "prompt": "a lighthouse", "size": "256x256"}


@pytest.fixture
def generate(api_key):
    """`generate()` makes one API generation in this process; its response."""
    client = Client(headers={"Authorization": f"Bearer {api_key}"})

    def post():
        return client.post("/v1/images/generations", BODY, content_type="application/json")

    assert post().status_code == 200  # the first call reads the key and the catalog
    return post


def data_statements(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"].strip()
        for query in queries.captured_queries
        if not query["sql"].startswith(TRANSACTION_CONTROL)
    ]


def test_an_api_generation_costs_at_most_a_fixed_number_of_queries(
    generate, django_assert_max_num_queries
):
    with django_assert_max_num_queries(API_GENERATION_QUERIES):
        response = generate()

    assert response.status_code == 200


def test_an_api_generation_is_two_transactions(generate):
    with CaptureQueriesContext(connection) as queries:
        assert generate().status_code == 200

    control = [query["sql"] for query in queries.captured_queries]
    assert sum(sql.startswith("BEGIN") for sql in control) == 2, control
    assert sum(sql == "COMMIT" for sql in control) == 2, control


def test_a_repeated_api_call_reads_neither_its_key_nor_the_catalog(generate):
    with CaptureQueriesContext(connection) as queries:
        assert generate().status_code == 200

    reads = [sql for sql in data_statements(queries) if sql.upper().startswith("SELECT")]
    assert not [sql for sql in reads if "accounts_apikey" in sql or "catalog_" in sql], reads


def test_an_api_call_skips_the_browser_middleware(asgi_server, api_key):
    api = httpx.post(
        f"{asgi_server}/v1/images/generations",
        json=BODY,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    page = httpx.get(f"{asgi_server}/models/")

    assert api.status_code == 200
    assert "x-frame-options" not in api.headers  # no clickjacking guard, session or CSRF
    assert "Cookie" not in api.headers.get("vary", "")
    assert api.headers["x-content-type-options"] == "nosniff"  # the security middleware ran
    assert page.headers["x-frame-options"] == "DENY"


def test_a_queued_job_runs_without_reading_images_it_cannot_have_yet(user, catalog, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    generation, _ = async_to_sync(generation_submit)(
        user=user,
        request=GenerationRequest(mode="generate", model="qwen-image", prompt="a lighthouse"),
        source=Generation.Source.PLAYGROUND,
        base_url="http://testserver/",
    )

    with CaptureQueriesContext(connection) as queries:
        outcome = async_to_sync(generation_run)(generation.pk, start=Start.QUEUED)
        finished = outcome.generation

    assert finished.status == Generation.Status.SUCCEEDED
    assert len(finished.image_list) == 1
    reads = [sql for sql in data_statements(queries) if sql.upper().startswith("SELECT")]
    assert reads and not [sql for sql in reads if "generationimage" in sql], reads


def test_the_loaded_application_is_frozen_out_of_garbage_collection():
    importlib.reload(importlib.import_module("playground.asgi"))

    assert gc.get_freeze_count() > 10_000  # Django, the site's modules and their objects
