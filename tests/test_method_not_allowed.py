"""Every 405 says, in its Allow header, exactly the methods its path takes: each route of the
API, under uvicorn (where the request is refused before its body) and through the test client
(where the view refuses it), and the pages, whose method decorators answer Django's 405."""

import uuid

import httpx
import pytest

from playground.gateway import urls as gateway_urls

pytestmark = pytest.mark.django_db(transaction=True)

# (wrong method, path, what the path takes): one line per route of playground/gateway/urls.py.
API_ROUTES = [
    ("GET", "/v1/images/generations", "POST"),
    ("PUT", "/v1/images/edits", "POST"),
    ("POST", f"/v1/generations/{uuid.uuid4()}", "GET"),
    ("POST", "/v1/models", "GET"),
    ("DELETE", "/v1/models/qwen-image", "GET"),
    ("POST", "/v1/openapi.json", "GET"),
    ("OPTIONS", "/v1/no/such/path", "GET, POST, PUT, PATCH, DELETE"),
]


def test_every_api_route_is_listed():
    assert len(API_ROUTES) == len(gateway_urls.urlpatterns)


@pytest.mark.parametrize(("method", "path", "allow"), API_ROUTES)
def test_an_api_route_answers_a_wrong_method_with_allow(asgi_server, api_key, method, path, allow):
    response = httpx.request(
        method, asgi_server + path, headers={"Authorization": f"Bearer {api_key}"}
    )

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"] == {
        "message": f"{method} is not allowed here; use {allow}.",
        "type": "invalid_request_error",
        "param": None,
        "code": "method_not_allowed",
    }


@pytest.mark.parametrize(("method", "path", "allow"), API_ROUTES)
def test_an_api_view_answers_a_wrong_method_with_allow(client, api_key, method, path, allow):
    """The view's own check, as under WSGI."""
    response = client.generic(method, path, headers={"Authorization": f"Bearer {api_key}"})

    assert response.status_code == 405
    assert response["Allow"] == allow


def test_a_wrong_method_comes_before_the_key(asgi_server):
    response = httpx.post(f"{asgi_server}/v1/models")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/", "GET"),
        ("POST", "/status/", "GET"),
        ("POST", "/playground/", "GET"),
        ("GET", "/playground/generate/", "POST"),
        ("PUT", "/playground/compare/", "GET, POST"),
        ("GET", "/accounts/top-up/start/", "POST"),
        ("DELETE", "/accounts/top-up/", "GET, POST"),
        ("PUT", "/terms/", "GET, HEAD, OPTIONS"),
    ],
)
def test_a_page_answers_a_wrong_method_with_allow(signed_in, method, path, allow):
    response = signed_in.generic(method, path)

    assert response.status_code == 405
    assert response["Allow"] == allow
