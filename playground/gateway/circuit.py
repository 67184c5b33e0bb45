"""A circuit breaker per provider, kept in the cache so that every process shares it.

After `THRESHOLD` failures in a row a provider is skipped for `COOLDOWN_SECONDS`; when that
runs out the next request probes it again, and one more failure opens the circuit at once.
A request reads the breakers of all its providers at once when it starts (`health`).
"""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache

THRESHOLD = 5
COOLDOWN_SECONDS = 30
FAILURE_MEMORY_SECONDS = 600


def _failures(slug: str) -> str:
    return f"circuit:{slug}:failures"


def _open(slug: str) -> str:
    return f"circuit:{slug}:open"


@dataclass(frozen=True)
class Health:
    """What the breakers of some providers said: which are open (to be skipped) and which have
    failures counted (a success must clear them)."""

    open: frozenset[str]
    failing: frozenset[str]


async def health(slugs: Iterable[str]) -> Health:
    """The breakers of `slugs`, in one read of the cache.

    Read on a worker thread of its own rather than through Django's async cache API, which
    queues the read on the process's one sync thread behind every request's database work."""
    slugs = list(dict.fromkeys(slugs))
    keys = [key(slug) for slug in slugs for key in (_open, _failures)]
    found = await asyncio.to_thread(cache.get_many, keys)
    return Health(
        open=frozenset(slug for slug in slugs if found.get(_open(slug))),
        failing=frozenset(slug for slug in slugs if found.get(_failures(slug))),
    )


async def record_failure(slug: str) -> None:
    key = _failures(slug)
    if await cache.aadd(key, 1, timeout=FAILURE_MEMORY_SECONDS):
        failures = 1
    else:
        try:
            failures = await cache.aincr(key)
        except ValueError:  # a success of the same provider deleted the count meanwhile
            await cache.aset(key, 1, timeout=FAILURE_MEMORY_SECONDS)
            failures = 1
    if failures >= THRESHOLD:
        await cache.aset(_open(slug), True, timeout=COOLDOWN_SECONDS)


async def record_success(slug: str) -> None:
    await cache.adelete_many([_failures(slug), _open(slug)])
