"""The per-account suppression list: addresses that hard-bounced or complained.

One hash per account keyed by the lower-cased address, so checking a whole
recipient list is one HMGET. Entries never expire on their own: a hard
bounce or a complaint stays until someone removes it.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import redis

from bridge import keys
from bridge.errors import NotFound
from bridge.models import Suppression
from bridge.storage.base import redis_errors, utc_now


class SuppressionStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @redis_errors
    def add(self, account: str, entry: Suppression, *, replace: bool = True) -> Suppression:
        """Suppress an address; with replace=False an existing entry is kept (first cause wins)."""
        key = keys.suppressions(account)
        doc = json.dumps(asdict(entry))
        if replace:
            self.redis.hset(key, entry.address.lower(), doc)
        elif not self.redis.hsetnx(key, entry.address.lower(), doc):
            return self.get(account, entry.address)
        return entry

    @redis_errors
    def get(self, account: str, address: str) -> Suppression:
        raw = self.redis.hget(keys.suppressions(account), address.lower())
        if raw is None:
            raise NotFound(f"{address!r} is not suppressed", code="suppressionNotFound")
        return Suppression(**json.loads(raw))

    @redis_errors
    def remove(self, account: str, address: str) -> None:
        if not self.redis.hdel(keys.suppressions(account), address.lower()):
            raise NotFound(f"{address!r} is not suppressed", code="suppressionNotFound")

    @redis_errors
    def all(self, account: str) -> list[Suppression]:
        found = [Suppression(**json.loads(v)) for v in self.redis.hvals(keys.suppressions(account))]
        return sorted(found, key=lambda s: s.created, reverse=True)

    @redis_errors
    def suppressed(self, account: str, addresses: list[str]) -> list[str]:
        """Those of ``addresses`` that are on the list, as given."""
        if not addresses:
            return []
        hits = self.redis.hmget(keys.suppressions(account), [a.lower() for a in addresses])
        return [a for a, hit in zip(addresses, hits, strict=True) if hit is not None]


def now_entry(address: str, reason: str, source: str, message_id: str | None = None) -> Suppression:
    return Suppression(address=address, reason=reason, source=source, created=utc_now(), message_id=message_id)
