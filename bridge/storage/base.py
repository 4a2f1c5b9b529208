"""Shared plumbing of the storage package: connecting, error translation, time.

The storage package is the only place that imports redis. Every module in it
owns one resource, takes a ``redis.Redis`` and stores what callers decide,
with every key from ``bridge.keys``. Redis failures surface as
``StorageUnavailable``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import redis
import redis.exceptions

from bridge.errors import StorageUnavailable
from bridge.models import rfc3339

P = ParamSpec("P")
R = TypeVar("R")


def text(value: object) -> str:
    """Redis replies are bytes; redis-py's types also allow str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def utc_now() -> str:
    """The current time as an RFC 3339 UTC string with milliseconds."""
    return rfc3339(datetime.now(UTC))


def redis_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Translate redis-py errors into StorageUnavailable at the boundary."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except redis.exceptions.RedisError as exc:
            raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc

    return wrapper


def connect(url: str) -> redis.Redis:
    """A Redis client with bounded timeouts, so a dead Redis fails fast."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30)


def hashes_in_index(
    client: redis.Redis, index: str, entry_key: Callable[[str], str], limit: int, account: str | None = None
) -> list[dict[Any, Any]]:
    """The hashes whose ids a sorted set lists, in its order, optionally only one account's.

    Reads the index 500 ids at a time and each page's hashes in one pipeline; ids
    whose hash is gone (expired) are skipped.
    """
    out: list[dict[Any, Any]] = []
    start = 0
    while len(out) < limit:
        ids = [text(i) for i in client.zrange(index, start, start + 499)]
        if not ids:
            break
        start += len(ids)
        pipe = client.pipeline(transaction=False)
        for entry_id in ids:
            pipe.hgetall(entry_key(entry_id))
        for doc in pipe.execute():
            if doc and (account is None or text(doc.get(b"account", b"")) == account):
                out.append(doc)
    return out[:limit]
