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
from typing import ParamSpec, TypeVar

import redis
import redis.exceptions

from bridge.errors import StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")


def text(value: object) -> str:
    """Redis replies are bytes; redis-py's types also allow str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def utc_now() -> str:
    """The current time as an RFC 3339 UTC string with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
