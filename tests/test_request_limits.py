"""What the site reads of a request it refuses, under uvicorn: an API request without a usable
key, and any body over `settings.MAX_BODY_BYTES` (declared or counted as it comes), is answered
before its body is read, and the connection is closed while the client is still sending.

Each client streams a 200 MB body from a generator that counts what it has handed over: what
the client could send before its answer came back is what the server's socket buffers took, a
few megabytes at most, never the body."""

import http.client
import json
import socket

import httpx
import openai
import pytest

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

TOTAL_BYTES = 200 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
# Loopback socket buffers on both ends, and uvicorn's own buffer, take a few megabytes.
MOST_SENT_BYTES = 16 * 1024 * 1024


class Body:
    """A 200 MB body, produced chunk by chunk; `sent_bytes` is how much the client took."""

    def __init__(self):
        self.sent_bytes = 0

    def __iter__(self):
        chunk = bytes(CHUNK_BYTES)
        while self.sent_bytes < TOTAL_BYTES:
            self.sent_bytes += len(chunk)
            yield chunk


def post(url: str, *, headers: dict, declare_length: bool) -> tuple[httpx.Response, Body]:
    """POST the 200 MB body to `url`, sent in chunks or under its Content-Length."""
    body = Body()
    if declare_length:
        headers = {**headers, "Content-Length": str(TOTAL_BYTES)}
    with httpx.Client(timeout=30) as client:
        response = client.post(url, content=body, headers=headers)
    return response, body


@pytest.fixture
def small_limit(settings):
    settings.MAX_BODY_BYTES = 1024 * 1024


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
@pytest.mark.parametrize(
    ("authorization", "code"),
    [(None, "missing_api_key"), ("Bearer sk-not-a-key", "invalid_api_key")],
    ids=["no key", "unknown key"],
)
def test_an_api_request_without_a_usable_key_is_refused_before_its_body(
    asgi_server, catalog, authorization, code, declare_length
):
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    if authorization:
        headers["Authorization"] = authorization

    response, body = post(
        f"{asgi_server}/v1/images/edits", headers=headers, declare_length=declare_length
    )

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["connection"] == "close"
    assert response.headers["x-request-id"].startswith("req_")
    assert body.sent_bytes < MOST_SENT_BYTES
    assert not Generation.objects.exists()


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
def test_an_api_body_over_the_limit_is_refused_before_the_rest_is_read(
    asgi_server, api_key, small_limit, declare_length
):
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "multipart/form-data; boundary=B",
    }

    response, body = post(
        f"{asgi_server}/v1/images/edits", headers=headers, declare_length=declare_length
    )

    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["connection"] == "close"
    assert body.sent_bytes < MOST_SENT_BYTES
    assert not Generation.objects.exists()


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
def test_a_page_body_over_the_limit_is_a_readable_413(asgi_server, small_limit, declare_length):
    headers = {"Content-Type": "multipart/form-data; boundary=B"}

    response, body = post(
        f"{asgi_server}/playground/generate/", headers=headers, declare_length=declare_length
    )

    assert response.status_code == 413
    assert "text/html" in response.headers["content-type"]
    assert "The site takes at most 1.0\xa0MB in one request." in response.text
    assert response.headers["connection"] == "close"
    assert body.sent_bytes < MOST_SENT_BYTES


def test_a_wrong_method_is_refused_before_the_body(asgi_server, api_key):
    response, body = post(
        f"{asgi_server}/v1/models",
        headers={"Authorization": f"Bearer {api_key}"},
        declare_length=False,
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert body.sent_bytes < MOST_SENT_BYTES


def test_a_request_is_authenticated_and_counted_once(asgi_server, api_key, settings):
    """The handler admits the request before its body, and its view takes what that found:
    each request counts once against the key's rate limit and the address's."""
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    settings.API_RATE_LIMIT_PER_IP_PER_MINUTE = 3

    with factories.api_client(asgi_server, api_key, timeout=30) as api:
        statuses = [api.get("/models").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_the_address_rate_limit_comes_first(asgi_server, settings):
    """Refused before its body, a request is refused in the view's order: over the address's
    rate limit, a request with no key and a body over the limit is a 429."""
    settings.API_RATE_LIMIT_PER_IP_PER_MINUTE = 1
    assert httpx.get(f"{asgi_server}/v1/models").status_code == 401

    response, body = post(f"{asgi_server}/v1/images/edits", headers={}, declare_length=True)

    assert response.status_code == 429
    assert response.headers["retry-after"]
    assert body.sent_bytes < MOST_SENT_BYTES


def test_a_client_that_waits_for_100_continue_sends_no_body(asgi_server):
    """The server asks for the body (`100 Continue`) only to read it: refused first, the
    client is told so before it sends any."""
    url = httpx.URL(asgi_server)

    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/images/edits HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\n"
            b"Content-Length: 209715200\r\nExpect: 100-continue\r\n\r\n"
        )
        response = http.client.HTTPResponse(sock)
        response.begin()

        assert response.status == 401
        assert json.loads(response.read())["error"]["code"] == "missing_api_key"


def test_the_sdk_is_told_its_key_is_wrong_before_it_has_sent_the_upload(asgi_server, catalog):
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key="sk-not-a-key", max_retries=0)
    upload = ("big.png", bytes(TOTAL_BYTES // 4), "image/png")

    with pytest.raises(openai.AuthenticationError) as refused:
        client.images.edit(model="qwen-image-edit-plus", image=upload, prompt="x")

    assert refused.value.code == "invalid_api_key"
