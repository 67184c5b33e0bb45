"""Pytest fixtures for the fake providers, and helpers to drive an adapter against one.

tests/conftest.py loads this module as a plugin, so every test can name the fixtures. Each
`*_fake` fixture is a started fake on its own loopback port, stopped after the test. Point
code at it with `fake.env` (the adapter's environment variables, see `provider_env`) or build the
adapter directly with `adapter_for(fake)`.

Stripe is the exception: one localstripe process and its `StripeFake` serve the whole session
(`stripe_server`), and `stripe_fake` points the site's settings at it for one test.
"""

import asyncio
import ssl
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest

from playground.providers._http import HttpProvider
from playground.providers.base import Provider, ProviderJob
from playground.providers.fal import FalProvider
from playground.providers.openai_compat import OpenAIProvider
from playground.providers.qwen2512 import Qwen2512Provider
from playground.providers.registry import PROVIDER_CLASSES
from playground.providers.replicate import ReplicateProvider

from .fal import FalFake
from .openai import OpenAIFake
from .qwen2512 import Qwen2512Fake
from .replicate import ReplicateFake
from .server import FakeServer
from .stripe import LOCALSTRIPE, StripeFake
from .webhooks import WebhookReceiver

FAST_POLL_SECONDS = 0.001
# Built once: loading the CA bundle takes longer than most of these tests (the fakes speak HTTP).
TLS_CONTEXT = ssl.create_default_context()
ADAPTERS: dict[type[FakeServer], type[Provider]] = {
    FalFake: FalProvider,
    ReplicateFake: ReplicateProvider,
    Qwen2512Fake: Qwen2512Provider,
    OpenAIFake: OpenAIProvider,
}


@pytest.fixture
def fal_fake() -> Iterator[FalFake]:
    with FalFake() as fake:
        yield fake


@pytest.fixture
def replicate_fake() -> Iterator[ReplicateFake]:
    with ReplicateFake() as fake:
        yield fake


@pytest.fixture
def qwen2512_fake() -> Iterator[Qwen2512Fake]:
    with Qwen2512Fake() as fake:
        yield fake


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as fake:
        yield fake


@pytest.fixture
def webhook_receiver(settings) -> Iterator[WebhookReceiver]:
    """A webhook receiver on a loopback port, which the site may call (private hosts allowed)."""
    settings.FETCH_ALLOW_PRIVATE_HOSTS = True
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP adapters poll every millisecond instead of every second or so."""
    for cls in PROVIDER_CLASSES.values():
        if issubclass(cls, HttpProvider):
            monkeypatch.setattr(cls, "poll_interval", FAST_POLL_SECONDS)


@pytest.fixture
def provider_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeServer], None]:
    """`provider_env(fake)` configures the real adapter of `fake` through the environment, as
    production does (`Provider.from_environment`)."""

    def use(fake: FakeServer) -> None:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)

    return use


@pytest.fixture
def fal(fal_fake, provider_env, fast_polling) -> FalFake:
    """The fal fake, configured as the site's fal provider, polled fast."""
    provider_env(fal_fake)
    return fal_fake


@pytest.fixture
def replicate(replicate_fake, provider_env, fast_polling) -> ReplicateFake:
    """The Replicate fake, configured as the site's Replicate provider: answers are polled
    (no `Prefer: wait` hold), fast."""
    replicate_fake.wait_cap = 0
    provider_env(replicate_fake)
    return replicate_fake


def adapter_for(fake: FakeServer, *, api_key: str | None = None) -> Provider:
    """The adapter of `fake`'s protocol, pointed at it, with `api_key` (default: the right one)."""
    cls = ADAPTERS[type(fake)]
    return cls(
        api_key=fake.api_key if api_key is None else api_key,
        base_url=fake.base_url,
        **fake.adapter_options,
    )


def make_job(**fields: Any) -> ProviderJob:
    """A small text-to-image job; `fields` override any of its fields."""
    defaults: dict[str, Any] = {
        "model_id": "fal-ai/qwen-image",
        "prompt": "a lighthouse at dawn",
        "width": 64,
        "height": 48,
        "seed": 7,
    }
    return ProviderJob(**(defaults | fields))


def run[T](
    work: Callable[[httpx.AsyncClient], Coroutine[Any, Any, T]], *, timeout: float = 5.0
) -> T:
    """`work(client)` on a fresh event loop, with a client whose every timeout is `timeout`."""

    async def main() -> T:
        async with httpx.AsyncClient(timeout=timeout, verify=TLS_CONTEXT) as client:
            return await work(client)

    return asyncio.run(main())


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[StripeFake]:
    """localstripe and the Stripe fake in front of it, once for the test session."""
    if not LOCALSTRIPE.exists():
        pytest.skip(f"no {LOCALSTRIPE}: run make tests/.sdk/venv-localstripe/.installed")
    with StripeFake() as fake:
        yield fake


@pytest.fixture
def stripe_fake(stripe_server: StripeFake, settings) -> Iterator[StripeFake]:
    """The session's Stripe fake, its deliveries and requests forgotten, configured as the
    site's Stripe: API base, keys, webhook secret and Stripe.js."""
    stripe_server.reset()
    settings.STRIPE_SECRET_KEY = stripe_server.secret_key
    settings.STRIPE_PUBLISHABLE_KEY = stripe_server.publishable_key
    settings.STRIPE_WEBHOOK_SECRET = stripe_server.webhook_secret
    settings.STRIPE_API_BASE = stripe_server.url
    settings.STRIPE_JS_URL = f"{stripe_server.url}/js.stripe.com/v3/"
    yield stripe_server
    crashes, stripe_server.crashes = stripe_server.crashes, []
    assert not crashes, "StripeFake crashed:\n" + "\n".join(crashes)
