"""The API through the official openai npm package, run by Node against a live server."""

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

JS = Path(__file__).parent / "js"


def test_generate_and_edit_with_the_node_sdk(live_server, api_key, tmp_path):
    image = tmp_path / "source.png"
    image.write_bytes(factories.png_bytes(200, 100))

    result = subprocess.run(
        ["node", "images.mjs"],
        cwd=JS,
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "BASE_URL": f"{live_server.url}/v1",
            "API_KEY": api_key,
            "IMAGE": str(image),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert httpx.get(summary["generatedUrl"]).status_code == 200
    assert summary["editedBytes"] > 1000
    assert summary["unauthorized"] == {"status": 401, "code": "invalid_api_key"}
    edit = Generation.objects.get(mode="edit")
    assert len(edit.params["inputs"]["images"]) == 2
