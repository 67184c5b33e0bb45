"""Provider keys never reach a browser or a caller: not in a page, a response body or header,
an error, or a log line. Distinctive keys are set for every provider, requests go through
success and failure paths, then every page reachable by links is crawled."""

import logging
import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests import factories
from tests.fakes.fal import FalFake
from tests.fakes.openai import OpenAIFake
from tests.fakes.qwen2512 import Qwen2512Fake
from tests.fakes.replicate import ReplicateFake

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = {
    FalFake: "fal-KEY-d3adb33f-0001",
    ReplicateFake: "r8_KEY-d3adb33f-0002",
    Qwen2512Fake: "sk-qwen-KEY-d3adb33f-0003",
    OpenAIFake: "sk-upstream-KEY-d3adb33f-0004",
}
LINK = re.compile(r'(?:href|src|hx-get|action)="([^"#]+)"')
MAX_PAGES = 400


@pytest.fixture
def fakes(provider_env, fast_polling):
    started = [cls(api_key=key).start() for cls, key in KEYS.items()]
    for fake in started:
        fake.wait_cap = 0 if isinstance(fake, ReplicateFake) else None
        provider_env(fake)
    yield {type(fake): fake for fake in started}
    for fake in started:
        fake.stop()


def leaks(text: str) -> list[str]:
    return [key for key in KEYS.values() if key in text]


@pytest.fixture
def api(live_server, api_key):
    # A job runs in its request here (the tests' immediate task backend).
    with factories.api_client(live_server.url, api_key, timeout=30) as client:
        yield client


def test_no_provider_key_anywhere(live_server, api, user, fakes, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Response] = []
    fal = fakes[FalFake]

    seen.append(api.post("/images/generations", json={"model": "qwen-image", "prompt": "ok"}))
    fal.fail_next(500, times=2, on="submit", message=f"upstream says {KEYS[FalFake]} is bad")
    fakes[ReplicateFake].fail_next(401, times=2, on="create")
    fakes[OpenAIFake].fail_next(503, times=2, on="generations", message=KEYS[OpenAIFake])
    seen.append(api.post("/images/generations", json={"model": "qwen-image", "prompt": "fail"}))
    # Refused by every provider, each naming its key: the caller hears the first refusal.
    fal.fail_next(422, on="submit", message=f"rejected for key {KEYS[FalFake]}")
    fakes[ReplicateFake].fail_next(422, on="create", message=KEYS[ReplicateFake])
    fakes[OpenAIFake].fail_next(422, on="generations", message=KEYS[OpenAIFake])
    seen.append(api.post("/images/generations", json={"model": "qwen-image", "prompt": "bad"}))
    seen.append(
        api.post(
            "/images/edits",
            files=[("image", ("a.png", factories.png_bytes(), "image/png"))],
            data={"model": "qwen-image-edit-2509", "prompt": "edit"},
        )
    )
    seen.append(
        api.post("/images/generations", json={"model": "qwen-image-2512", "prompt": "2512"})
    )
    seen.append(api.get("/models"))
    seen.append(api.get("/openapi.json"))
    assert [r.status_code for r in seen[:3]] == [200, 502, 400]

    browser = httpx.Client(base_url=live_server.url, follow_redirects=True)
    login = browser.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
    browser.post(
        "/accounts/login/",
        data={
            "csrfmiddlewaretoken": token,
            "login": user.username,
            "password": factories.PASSWORD,
        },
    )
    seen.extend(crawl(browser, live_server.url))

    for response in seen:
        assert not leaks(response.text), response.url
        assert not leaks(str(response.headers)), response.url
    assert not leaks(caplog.text)
    assert len(seen) > 20, len(seen)


def crawl(browser: httpx.Client, origin: str) -> list[httpx.Response]:
    queue, visited, responses = ["/"], set(), []
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop()
        if path in visited or path.startswith(("/accounts/logout", "/media/", "/static/")):
            continue
        visited.add(path)
        response = browser.get(path)
        responses.append(response)
        if "html" not in response.headers.get("content-type", ""):
            continue
        for link in LINK.findall(response.text):
            url = urlsplit(urljoin(origin + path, link.replace("&amp;", "&")))
            if f"{url.scheme}://{url.netloc}" == origin:
                queue.append(url.path + (f"?{url.query}" if url.query else ""))
    return responses


def test_no_provider_key_in_async_answers_webhooks_or_the_admin(
    api, user, fakes, caplog, webhook_receiver, admin_client
):
    """The paths the crawl above does not take: a failed job in async mode, its status, the
    webhook it calls, and the admin's pages of generations (attempts and upstream handles)."""
    caplog.set_level(logging.DEBUG)
    for fake in fakes.values():
        fake.fail_next(500, times=5, message=f"echoing {KEYS[type(fake)]} back")
    accepted = api.post(
        "/images/generations",
        json={"model": "qwen-image", "prompt": "later", "webhook_url": webhook_receiver.hook_url},
        headers={"Prefer": "respond-async"},
    )
    status = api.get(f"/generations/{accepted.json()['id']}")
    admin_pages = [
        admin_client.get("/admin/gateway/generation/"),
        admin_client.get(f"/admin/gateway/generation/{accepted.json()['id']}/change/"),
    ]

    assert accepted.status_code == 202
    assert status.json()["status"] == "failed"
    (hook,) = webhook_receiver.received
    for text in (accepted.text, status.text, hook.body.decode(), caplog.text):
        assert not leaks(text)
    for page in admin_pages:
        assert page.status_code == 200
        assert not leaks(page.content.decode())
    assert "[redacted]" in admin_pages[1].content.decode()  # the echo reached the attempts
