"""How `/v1/` reads request bodies under uvicorn: with a Content-Length or sent in chunks (as
the openai npm package sends a file stream)."""

import base64

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
