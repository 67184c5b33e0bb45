"""The pooled `httpx.AsyncClient`s: one per provider and event loop, created lazily.

This is the one piece of module-level state the project allows. Clients are keyed by the running
loop because a client cannot outlive or move between loops; `aclose_all` closes the current loop's.
"""

import asyncio
import os
import weakref

import httpx

LIMITS = httpx.Limits(max_connections=2000, max_keepalive_connections=200)

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]]" = (
    weakref.WeakKeyDictionary()
)


def client_for(slug: str) -> httpx.AsyncClient:
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if slug not in per_loop:
        per_loop[slug] = httpx.AsyncClient(timeout=timeout(), limits=LIMITS, follow_redirects=False)
    return per_loop[slug]


def timeout() -> httpx.Timeout:
    """Connect within 5 s; each read or write may take PROVIDER_READ_TIMEOUT_SECONDS (120)."""
    seconds = float(os.environ.get("PROVIDER_READ_TIMEOUT_SECONDS") or 120)
    return httpx.Timeout(connect=5.0, read=seconds, write=seconds, pool=10.0)


async def aclose_all() -> None:
    for client in _clients.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()
