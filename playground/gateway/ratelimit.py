"""Fixed-window rate limits in the cache (local memory by default, Redis in production)."""

import time

from django.conf import settings
from django.core.cache import cache

from .errors import RateLimited

WINDOW_SECONDS = 60


async def check(*, key: str, limit: int | None = None) -> None:
    """Count one request for `key`; `RateLimited` (with Retry-After) once over the limit."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE if limit is None else limit
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    counter = f"ratelimit:{key}:{window}"
    await cache.aadd(counter, 0, timeout=WINDOW_SECONDS * 2)
    count = await cache.aincr(counter)
    if count > limit:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
        raise RateLimited(
            f"Too many requests: at most {limit} a minute. Retry in {retry_after} s.",
            retry_after=retry_after,
        )
