"""A circuit breaker per provider, kept in the cache so that every process shares it.

After `THRESHOLD` failures in a row a provider is skipped for `COOLDOWN_SECONDS`; when that
runs out the next request probes it again, and one more failure opens the circuit at once.
A request reads the breakers of all its providers at once when it starts (`health`).

The cache is used from a worker thread, not through Django's async cache API: that API queues
each call on the process's one sync thread, behind every request's database work.
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
    """The breakers of `slugs`, in one read of the cache."""
    return await asyncio.to_thread(health_read, list(slugs))


def health_read(slugs: Iterable[str]) -> Health:
    """`health` for sync code (the status page)."""
    slugs = list(dict.fromkeys(slugs))
    keys = [key(slug) for slug in slugs for key in (_open, _failures)]
    found = cache.get_many(keys)
    return Health(
        open=frozenset(slug for slug in slugs if found.get(_open(slug))),
        failing=frozenset(slug for slug in slugs if found.get(_failures(slug))),
    )


async def record_failure(slug: str) -> None:
    await asyncio.to_thread(_count_failure, slug)


def _count_failure(slug: str) -> None:
    key = _failures(slug)
    if cache.add(key, 1, timeout=FAILURE_MEMORY_SECONDS):
        failures = 1
    else:
        try:
            failures = cache.incr(key)
        except ValueError:  # a success of the same provider deleted the count meanwhile
            cache.set(key, 1, timeout=FAILURE_MEMORY_SECONDS)
            failures = 1
    if failures >= THRESHOLD:
        cache.set(_open(slug), True, timeout=COOLDOWN_SECONDS)


async def record_success(slug: str) -> None:
    await asyncio.to_thread(cache.delete_many, [_failures(slug), _open(slug)])
