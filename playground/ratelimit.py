"""Fixed-window rate limits kept in the cache: per process by default, shared through Redis when
REDIS_URL is set. `hit` counts one request for a key; `rate_limited` guards a page view;
`at_most` bounds how many holders of a key work at once.
"""

import contextlib
import functools
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

WINDOW_SECONDS = 60


class RateLimitExceeded(Exception):
    def __init__(self, limit: int, retry_after: int, message: str = ""):
        super().__init__(
            message or f"Too many requests: at most {limit} a minute. Retry in {retry_after} s."
        )
        self.limit = limit
        self.retry_after = retry_after


def _window(key: str) -> tuple[str, int]:
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
    return f"ratelimit:{key}:{window}", retry_after


def hit(key: str, limit: int) -> None:
    """Count one request for `key`; `RateLimitExceeded` once over `limit` in this minute."""
    counter, retry_after = _window(key)
    cache.add(counter, 0, timeout=WINDOW_SECONDS * 2)
    if cache.incr(counter) > limit:
        raise RateLimitExceeded(limit, retry_after)


# A holder's slot is given back when it ends; this is for a process that died holding one.
SLOT_TIMEOUT_SECONDS = 120


@contextlib.asynccontextmanager
async def at_most(key: str, limit: int, *, retry_after: int, message: str):
    """Hold one of `limit` slots of `key` while the block runs; with all of them held,
    `RateLimitExceeded` at once (with `message`, and `retry_after` seconds), nothing waits."""
    counter = f"slots:{key}"
    await cache.aadd(counter, 0, timeout=SLOT_TIMEOUT_SECONDS)
    try:
        if await cache.aincr(counter) > limit:
            raise RateLimitExceeded(limit, retry_after, message)
        yield
    finally:
        with contextlib.suppress(ValueError):  # the counter expired meanwhile
            await cache.adecr(counter)


def with_retry_after(response: HttpResponse, seconds: int | None) -> HttpResponse:
    """`response` telling the client when to try again, if it should: every 429 and 503 the
    site answers, pages and API, gets its Retry-After here."""
    if seconds is not None:
        response["Retry-After"] = str(seconds)
    return response


def client_ip(request: HttpRequest) -> str:
    """The caller's address; the first X-Forwarded-For hop behind a trusted proxy."""
    if settings.TRUST_X_FORWARDED_FOR and (forwarded := request.headers.get("X-Forwarded-For")):
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def rate_limited(scope: str, *, setting: str):
    """Limit POSTs to a page view per client address to `settings.<setting>` a minute; over it,
    answer 429 with Retry-After and a readable page."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if request.method == "POST":
                try:
                    hit(f"{scope}:{client_ip(request)}", getattr(settings, setting))
                except RateLimitExceeded as exc:
                    response = render(
                        request, "rate_limited.html", {"retry_after": exc.retry_after}, status=429
                    )
                    return with_retry_after(response, exc.retry_after)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
