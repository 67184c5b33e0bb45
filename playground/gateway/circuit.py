"""A circuit breaker per provider, kept in the cache so that every process shares it.

After `THRESHOLD` failures in a row a provider is skipped for `COOLDOWN_SECONDS`; when that
runs out the next request probes it again, and one more failure opens the circuit at once.
"""

from django.core.cache import cache

THRESHOLD = 5
COOLDOWN_SECONDS = 30
FAILURE_MEMORY_SECONDS = 600


def _failures(slug: str) -> str:
    return f"circuit:{slug}:failures"


def _open(slug: str) -> str:
    return f"circuit:{slug}:open"


async def is_open(slug: str) -> bool:
    return bool(await cache.aget(_open(slug)))


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
