"""How `/v1/` reads request bodies under uvicorn: with a Content-Length or sent in chunks (as
the openai npm package sends a file stream), within the size limit or past it, and of which
content types."""

import base64
import http.client
import json
import socket

import httpx
import pytest

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

EDIT_MODEL = "qwen-image-edit-plus"  # takes several images


@pytest.fixture
def api(asgi_server, api_key):
    with factories.api_client(asgi_server, api_key, timeout=60) as client:
        yield client


def chunked(body: bytes, size: int = 1000):
    """`body` as an iterator, which httpx sends with `Transfer-Encoding: chunked`."""
    return (body[start : start + size] for start in range(0, len(body), size))


def multipart(*fields: str) -> tuple[bytes, str]:
    """An edit's form with one PNG in each of `fields`: its body and Content-Type."""
    request = httpx.Request(
        "POST",
        "/",
        data={"model": EDIT_MODEL, "prompt": "make it blue"},
        files=[(name, ("a.png", factories.png_bytes(), "image/png")) for name in fields],
    )
    return request.read(), request.headers["Content-Type"]


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
@pytest.mark.parametrize(
    "fields", [["image"], ["image", "image"], ["image[]", "image[]"], ["image", "image[]"]]
)
def test_an_edit_form_is_read_whole_however_it_is_framed(api, framing, fields):
    body, content_type = multipart(*fields)

    response = api.post(
        "/images/edits",
        content=chunked(body) if framing == "chunked" else body,
        headers={"Content-Type": content_type},
    )

    assert response.status_code == 200, response.text
    generation = Generation.objects.get(pk=response.headers["x-generation-id"])
    assert len(generation.params["inputs"]["images"]) == len(fields)


def test_a_json_edit_with_image_urls_sent_in_chunks(api):
    data_uri = "data:image/png;base64," + base64.b64encode(factories.png_bytes()).decode()
    body = httpx.Request(
        "POST", "/", json={"model": EDIT_MODEL, "prompt": "x", "image": [data_uri, data_uri]}
    ).read()

    response = api.post(
        "/images/edits", content=chunked(body), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200, response.text
    generation = Generation.objects.get(pk=response.headers["x-generation-id"])
    assert len(generation.params["inputs"]["images"]) == 2


def test_a_chunked_body_past_the_limit_is_a_413(api, settings):
    settings.MAX_BODY_BYTES = 100_000
    body, content_type = multipart("image")

    response = api.post(
        "/images/edits",
        content=chunked(body + bytes(200_000), size=64 * 1024),
        headers={"Content-Type": content_type},
    )

    assert response.status_code == 413, response.text
    assert response.json()["error"] == {
        "message": "The request is larger than 100,000 bytes.",
        "type": "invalid_request_error",
        "param": None,
        "code": "payload_too_large",
    }
    assert not Generation.objects.exists()
    assert api.get("/models").status_code == 200


@pytest.mark.parametrize(
    "framing",
    [b"Transfer-Encoding: chunked", b"Content-Length: 1000000000"],
    ids=["chunked", "content-length"],
)
def test_the_413_comes_before_the_body_ends(asgi_server, api_key, settings, framing):
    """The body is counted as it comes in (or its length is believed): the server answers
    while the client is still sending, unread past the limit."""
    settings.MAX_BODY_BYTES = 100_000
    host, port = httpx.URL(asgi_server).host, httpx.URL(asgi_server).port

    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/images/edits HTTP/1.1\r\nHost: test\r\n"
            + f"Authorization: Bearer {api_key}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=B\r\n"
            + framing
            + b"\r\n\r\n"
        )
        if framing.startswith(b"Transfer-Encoding"):
            chunk = bytes(64 * 1024)
            for _ in range(2):  # past the limit, and no last chunk: the body has no end
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = http.client.HTTPResponse(sock)
        response.begin()

        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("path", "takes"),
    [
        ("/images/edits", "multipart/form-data (files) or a JSON body (image URLs)"),
        ("/images/generations", "a JSON body (Content-Type: application/json)"),
    ],
)
def test_a_form_body_is_a_400_that_says_what_the_endpoint_takes(api, path, takes):
    response = api.post(path, data={"model": EDIT_MODEL, "prompt": "x", "image": "a.png"})

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"POST /v1{path} takes {takes}, not application/x-www-form-urlencoded."
    )
    assert not Generation.objects.exists()


def test_generations_take_no_multipart_form(api):
    body, content_type = multipart("image")

    response = api.post("/images/generations", content=body, headers={"Content-Type": content_type})

    assert response.status_code == 400
    assert "not multipart/form-data" in response.json()["error"]["message"]


JSON = '{"model": "qwen-image", "prompt": "x \u00e9", "size": "256x256"}'


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (None, JSON.encode(), "takes a JSON body (Content-Type: application/json), not a body "),
        ("text/plain", JSON.encode(), "not text/plain"),
        ("application/json; charset=utf-16", JSON.encode("utf-16"), "must be UTF-8"),
        ("application/json; charset=latin-1", JSON.encode("latin-1"), "not latin-1"),
        ("application/json", JSON.encode("utf-16"), "not valid JSON in UTF-8"),
        ("application/json", JSON.encode("utf-8-sig"), "not valid JSON in UTF-8"),
    ],
    ids=["no type", "text", "utf-16 declared", "latin-1 declared", "utf-16 body", "bom"],
)
def test_a_json_body_must_be_declared_json_in_utf8(api, content_type, body, message):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post("/images/generations", content=body, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert message in response.json()["error"]["message"]
    assert not Generation.objects.exists()


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8"])
def test_json_in_utf8_is_read(api, content_type):
    response = api.post(
        "/images/generations", content=JSON.encode(), headers={"Content-Type": content_type}
    )

    assert response.status_code == 200, response.text


def test_a_content_length_that_is_not_a_number_is_a_400_under_wsgi(client, api_key):
    """uvicorn refuses such a request itself; a WSGI server may pass the header on."""
    response = client.post(
        "/v1/images/generations",
        data=b'{"model": "qwen-image", "prompt": "x"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
        CONTENT_LENGTH="\u0663\u0663",
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "'Content-Length' is not a number of bytes."
