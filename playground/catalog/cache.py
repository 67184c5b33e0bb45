"""The catalog's version, and what a process works out from one version of the catalog.

The catalog changes only when it is loaded or edited in the admin, and each change bumps one
number in the shared cache (`caches["default"]`: Redis in production, the process's memory
without REDIS_URL). Every read of the catalog asks for that number, one cheap get, and each
process keeps what it read and worked out for it (`catalog_memo`) until it moves: the catalog
itself, the playground's model options, their default prices. Rendered fragments that show the
catalog carry the number in their `{% cache %}` keys.

Without REDIS_URL the number lives in each process, so a change made by another one (the
`load_catalog` command while the site runs) shows there after a restart.
"""

import time
from collections.abc import Callable, Hashable
from typing import Any

from django.core.cache import caches
from django.db import transaction

VERSION_KEY = "catalog:version"

# What was worked out from the catalog, by version: the latest version a process met only.
_memo: dict[int, dict[Hashable, Any]] = {}


def catalog_version() -> int:
    """The catalog's version now. A version that is missing (never set, evicted, or the cache
    cleared) starts from the clock, so it never comes back to one a process may still hold."""
    cache = caches["default"]
    version = cache.get(VERSION_KEY)
    if version is None:
        fresh = time.time_ns()
        if cache.add(VERSION_KEY, fresh, timeout=None):
            return fresh
        version = cache.get(VERSION_KEY, fresh)  # another process's, added just before
    return version


def catalog_changed() -> None:
    """Move the version after a change to the catalog's rows: at once, so that whatever reads it
    next in this transaction sees the change, and again on commit, so that a process which read
    it in between (the rows as they were before the commit) reads it again. A change rolled
    back leaves the version moved, and every process reads the catalog again for nothing;
    nothing reads the catalog inside the load's or the admin's transaction, so no process
    keeps rows that were rolled back."""
    catalog_version_bump()
    transaction.on_commit(catalog_version_bump)


def catalog_version_bump(**_) -> None:
    """Move the version now. Takes and ignores a signal's arguments: the tests move it when a
    setting changes (`setting_changed`), since what is worked out from the catalog (prices,
    controls) also depends on the providers configured."""
    cache = caches["default"]
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # missing: a fresh one will do
        cache.set(VERSION_KEY, time.time_ns(), timeout=None)


def catalog_memo[T](version: int, key: Hashable, make: Callable[[], T]) -> T:
    """What `make()` gives, made once per process for this version of the catalog under `key`.
    The memo of an older version goes as soon as a newer one is asked for."""
    memo = _memo.get(version)
    if memo is None:
        _memo.clear()
        memo = _memo[version] = {}
    if key not in memo:
        memo[key] = make()
    return memo[key]
