"""The API through each official openai client in use, on the site under uvicorn: the Python
SDK's current and previous major, and the npm package's. Every client runs each case in a
subprocess (tests/sdk/images.py, tests/js/images.mjs) and prints what it got; the checks here
are the same for all. `make test` installs the clients (see the Makefile)."""

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from django.urls import reverse
from PIL import Image

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

TESTS = Path(__file__).parent
PYTHON_SCRIPT = TESTS / "sdk" / "images.py"
NODE_SCRIPT = TESTS / "js" / "images.mjs"
# name: (command, environment)
CLIENTS = {
    "python-openai-3": ([sys.executable, PYTHON_SCRIPT], {}),
    "python-openai-2": ([TESTS / ".sdk" / "venv-openai2" / "bin" / "python", PYTHON_SCRIPT], {}),
    "node-openai-7": (["node", NODE_SCRIPT], {"OPENAI_PACKAGE": "openai"}),
    "node-openai-6": (["node", NODE_SCRIPT], {"OPENAI_PACKAGE": "openai-6"}),
}


@pytest.fixture(params=CLIENTS.values(), ids=CLIENTS.keys())
def run(request, asgi_server, api_key, tmp_path):
    """`run(case)`: the summary the client prints for one case of its script;
    `run(case, meanwhile=f)` calls `f()` while the client runs."""
    command, environment = request.param
    image = tmp_path / "source.png"
    image.write_bytes(factories.png_bytes(200, 100))

    def run_case(case: str, *, meanwhile: Callable[[], None] | None = None) -> dict:
        """With `meanwhile`, that is done while the client runs."""
        client = subprocess.Popen(
            [*command, case],
            env={
                "PATH": os.environ["PATH"],
                "BASE_URL": f"{asgi_server}/v1",
                "API_KEY": api_key,
                "IMAGE": str(image),
                **environment,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            if meanwhile is not None:
                meanwhile()
            stdout, stderr = client.communicate(timeout=120)
        finally:
            client.kill()
        assert client.returncode == 0, stderr
        return json.loads(stdout)

    return run_case


def test_generate(run):
    summary = run("generate")

    assert summary["size"] == "512x384"
    fetched = httpx.get(summary["url"])
    assert fetched.status_code == 200
    assert Image.open(io.BytesIO(fetched.content)).size == (512, 384)


def test_edit_with_file_streams(run):
    edits = run("edit")

    for name, edit in edits.items():
        generation = Generation.objects.get(pk=edit["generation"])
        assert generation.status == Generation.Status.SUCCEEDED, name
        assert len(generation.params["inputs"]["images"]) == edit["images"], name


def test_stream_generation(run):
    assert_streamed(run("stream_generation"), "image_generation")


def test_stream_edit(run):
    assert_streamed(run("stream_edit"), "image_edit")


def test_a_failure_mid_stream_raises_in_the_client(run, fal):
    fal.job_error = "the GPU caught fire"

    failure = run("stream_failure")

    assert failure["error"] == "APIError"
    assert failure["code"] == "provider_rejected"
    assert "the GPU caught fire" in failure["message"]


def test_a_call_its_user_cancels_raises_once_and_is_not_retried(run, user, fal):
    """Cancelled from the playground while the API call waits: the client, with its default
    retries, raises once; no second request, one generation, nothing charged."""
    fal.hold_jobs()
    cancelled = []

    def cancel_from_the_playground():
        fal.wait_for(lambda: fal.requests_to("status"), timeout=30)
        generation = Generation.objects.get(user=user)
        factories.signed_in_client(user).post(
            reverse("studio:generation-cancel", args=[generation.pk]), headers=factories.HTMX
        )
        cancelled.append(factories.wait_until_finished(generation))
        fal.release_jobs()  # a retry would now be served, and charged

    summary = run("cancelled", meanwhile=cancel_from_the_playground)

    assert cancelled[0].status == Generation.Status.CANCELLED
    assert summary == {
        "error": "UnprocessableEntityError",
        "status": 422,
        "code": "generation_cancelled",
        "param": None,
        "generation": str(cancelled[0].pk),
        "should_retry": "false",
    }
    assert Generation.objects.filter(user=user).count() == 1
    assert len(fal.requests_to("submit")) == 1
    assert factories.balance_micros(user) == 1_000_000 == factories.ledger_sum_micros(user)


def test_errors(run):
    assert run("errors") == {
        "wrong key": {
            "error": "AuthenticationError",
            "status": 401,
            "code": "invalid_api_key",
            "param": None,
        },
        "bad size": {
            "error": "BadRequestError",
            "status": 400,
            "code": "invalid_value",
            "param": "size",
        },
    }


def assert_streamed(summary: dict, kind: str) -> None:
    """The two partial images the demo gives, then the completed image, as a PNG."""
    types = summary["types"]
    assert types == factories.event_types(kind, partials=2), types
    assert Image.open(io.BytesIO(base64.b64decode(summary["b64_json"]))).format == "PNG"
