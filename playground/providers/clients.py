"""The pooled `httpx.AsyncClient`s: one per provider and event loop, created lazily.

This is the one piece of module-level state the project allows. Clients are keyed by the running
loop because a client cannot outlive or move between loops; `aclose_all` closes the current loop's.

A client's connections are spread over POOLS pools (`SpreadTransport`): httpcore's pool walks
every connection it holds each time a request starts or a response ends, a walk that grew with
a thousand generations held open on one pool (bench/README, F26).
"""

import asyncio
import itertools
import os
import weakref

import httpx

LIMITS = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
POOLS = 16


class SpreadTransport(httpx.AsyncBaseTransport):
    """Sends requests in turn through `pools` connection pools that share `limits` evenly."""

    def __init__(self, *, pools: int, limits: httpx.Limits):
        def share(total: int, pool: int) -> int:  # the first `total % pools` pools take one more
            return total // pools + (pool < total % pools)

        self.pools = [
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(
                    max_connections=share(limits.max_connections, pool),
                    max_keepalive_connections=share(limits.max_keepalive_connections, pool),
                    keepalive_expiry=limits.keepalive_expiry,
                )
            )
            for pool in range(pools)
        ]
        self._turns = itertools.cycle(self.pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turns).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]]" = (
    weakref.WeakKeyDictionary()
)


def client_for(slug: str) -> httpx.AsyncClient:
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if slug not in per_loop:
        per_loop[slug] = httpx.AsyncClient(
            timeout=timeout(),
            transport=SpreadTransport(pools=POOLS, limits=LIMITS),
            follow_redirects=False,
        )
    return per_loop[slug]


def timeout() -> httpx.Timeout:
    """Connect within 5 s; each read or write may take PROVIDER_READ_TIMEOUT_SECONDS (120)."""
    seconds = float(os.environ.get("PROVIDER_READ_TIMEOUT_SECONDS") or 120)
    return httpx.Timeout(connect=5.0, read=seconds, write=seconds, pool=10.0)


async def aclose_all() -> None:
    for client in _clients.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()
