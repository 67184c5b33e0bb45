"""What an API call costs the server, through the ASGI server: it skips the browser's middleware
and runs a bounded number of SQL statements."""

import httpx
import pytest
from django.db.backends import utils

pytestmark = pytest.mark.django_db(transaction=True)

# Auth 1; create 4 (the insert; the hold: balance, ledger, the key's spend); finish 7 (update,
# images, the hold, a savepoint around balance and release-and-capture); the balance header 1;
# SQLite's 2 BEGINs. The catalog comes from the process's own read of it (`catalog_current`).
API_GENERATION_STATEMENTS = 15


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
