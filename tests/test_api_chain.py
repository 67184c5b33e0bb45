"""The API's own middleware chain (settings.API_MIDDLEWARE) under the ASGI server: Django's
view handling applies to API views, so a bug is logged by Django and answered in OpenAI's
envelope, while a page's bug gets the site's error page."""

import logging

import httpx
import pytest

from playground.gateway import selectors
from playground.studio import views as studio_views


@pytest.fixture
def broken(monkeypatch):
    """A bug in the views' code: the models' list and the playground page raise."""

    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(selectors, "model_objects", fail)
    monkeypatch.setattr(studio_views, "model_options", fail)


def test_a_bug_in_an_api_view_is_a_500_in_the_envelope_and_logged(
    asgi_server, api_key, broken, caplog
):
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = httpx.get(
            f"{asgi_server}/v1/models", headers={"Authorization": f"Bearer {api_key}"}
        )

    assert response.status_code == 500
    assert response.json()["error"] == {
        "message": "The gateway failed unexpectedly.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert response.headers["x-content-type-options"] == "nosniff"  # the API's chain ran
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info[1].args == ("a bug",)


def test_a_bug_in_a_page_is_the_sites_error_page(asgi_server, catalog, broken):
    response = httpx.get(f"{asgi_server}/playground/")

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"  # the pages' chain ran
