"""The code examples of every model page, taken from the page as a reader sees it and run against
a live server with a real key: the Python one with the OpenAI SDK, the curl one with curl, and the
JavaScript one parsed by `node --check` and then run with the openai npm package of tests/js."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.urls import reverse

from playground.catalog.examples import KEY_ENV, model_examples
from playground.catalog.models import ImageModel
from playground.catalog.services import catalog_read
from playground.gateway.models import Generation
from tests import factories
from tests.test_docs_pages import Page

pytestmark = pytest.mark.django_db(transaction=True)

NODE_MODULES = Path(__file__).parent / "js" / "node_modules"
CASES = [(model["id"], mode) for model in catalog_read()["models"] for mode in model["modes"]]
SOURCES = {"python": "example.py", "curl": "example.sh", "javascript": "example.mjs"}
COMMANDS = {
    "python": [sys.executable, "example.py"],
    "curl": ["bash", "example.sh"],
    "javascript": ["node", "example.mjs"],
}


@pytest.fixture
def run_example(live_server, api_key, tmp_path):
    """Write the `language` example of `slug`'s `mode` from its live page into a folder with the
    input pictures it names, run it with the key in the environment, and return the result."""

    def run(slug: str, mode: str, language: str) -> subprocess.CompletedProcess:
        page = Page(httpx.get(live_server.url + reverse("catalog:model-detail", args=[slug])).text)
        code = page.code_block(mode=mode, language=language)
        assert f"{live_server.url}/v1" in code and slug in code
        model = ImageModel.objects.get(slug=slug)
        (example,) = [e for e in model_examples(model, base_url="") if e.mode == mode]
        for index, name in enumerate(example.images):
            (tmp_path / name).write_bytes(factories.png_bytes(160, 120, (40 * index, 90, 200)))
        (tmp_path / SOURCES[language]).write_text(code)
        if language == "javascript":
            checked = subprocess.run(
                ["node", "--check", "example.mjs"], cwd=tmp_path, capture_output=True, check=False
            )
            assert checked.returncode == 0, checked.stderr
            (tmp_path / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
        return subprocess.run(
            COMMANDS[language],
            cwd=tmp_path,
            env={**os.environ, KEY_ENV: api_key},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def assert_generated(url: str, *, live_server, slug: str, mode: str) -> None:
    assert url.startswith(f"{live_server.url}/media/")
    assert httpx.get(url).status_code == 200
    generation = Generation.objects.get(model__slug=slug)
    assert (generation.mode, generation.status) == (mode, Generation.Status.SUCCEEDED)
    assert generation.cost_micros > 0


@pytest.mark.parametrize(("slug", "mode"), CASES)
def test_python_example_runs(run_example, live_server, slug, mode):
    result = run_example(slug, mode, "python")

    assert result.returncode == 0, result.stderr
    assert_generated(result.stdout.strip(), live_server=live_server, slug=slug, mode=mode)


@pytest.mark.parametrize(("slug", "mode"), CASES)
def test_curl_example_runs(run_example, live_server, slug, mode):
    result = run_example(slug, mode, "curl")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert_generated(body["data"][0]["url"], live_server=live_server, slug=slug, mode=mode)


@pytest.mark.parametrize(("slug", "mode"), CASES)
def test_javascript_example_parses_and_runs(run_example, live_server, slug, mode):
    result = run_example(slug, mode, "javascript")

    assert result.returncode == 0, result.stderr
    assert_generated(result.stdout.strip(), live_server=live_server, slug=slug, mode=mode)


def test_edit_example_sends_every_picture(run_example):
    result = run_example("qwen-image-edit-plus", "edit", "python")

    assert result.returncode == 0, result.stderr
    generation = Generation.objects.get()
    assert len(generation.params["inputs"]["images"]) == 2
