"""The audit log: one record per policy decision, per account, kept for ``retentionDays``.

Layout: a Redis stream per account (``keys.audit``); each entry's field ``r``
holds the record as JSON, and the entry id (``<ms>-<n>``, assigned by Redis,
so unique and time-ordered) is the record's id and the listing cursor. Every
append trims entries older than the retention (``XADD MINID ~``, approximate,
so readers also stop at the retention bound) and sets the stream's TTL to
the retention, so an account that goes quiet loses its log on time too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

import redis

from bridge import keys
from bridge.storage.base import redis_errors, text

_DAY_MS = 86_400_000
_STREAM_ID = re.compile(r"^[0-9]{1,15}-[0-9]{1,10}$")
# Entries read per round trip while filtering; a page never scans more than _MAX_SCAN.
_BATCH = 200
_MAX_SCAN = 20_000


def is_cursor(value: str) -> bool:
    """Whether ``value`` has the shape of an audit record id."""
    return bool(_STREAM_ID.match(value))


class AuditStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @redis_errors
    def append(self, record: dict[str, Any], *, retention_days: int, now_ms: int) -> str:
        """Store one record for the account named in it; returns its id."""
        return self.append_many([record], retention_days=retention_days, now_ms=now_ms)[0]

    @redis_errors
    def append_many(self, records: list[dict[str, Any]], *, retention_days: int, now_ms: int) -> list[str]:
        """Store records (each for the account named in it) in one MULTI round trip; returns their ids."""
        pipe = self.redis.pipeline(transaction=True)
        for record in records:
            body = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
            pipe.xadd(
                keys.audit(record["account"]), {"r": body}, minid=now_ms - retention_days * _DAY_MS, approximate=True
            )
        for account in dict.fromkeys(r["account"] for r in records):
            pipe.expire(keys.audit(account), retention_days * 86400)
        return [text(entry_id) for entry_id in pipe.execute()[: len(records)]]

    @redis_errors
    def page(
        self,
        account: str,
        *,
        limit: int,
        before: str | None,
        since_ms: int,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first, from before the cursor ``before`` (exclusive) down to ``since_ms``.

        Returns the page and the next cursor (None at the end).
        """
        key = keys.audit(account)
        top = f"({before}" if before else "+"
        bottom = f"{max(0, since_ms)}-0"
        out: list[dict[str, Any]] = []
        scanned = 0
        while scanned < _MAX_SCAN:
            batch = cast(list[Any], self.redis.xrevrange(key, max=top, min=bottom, count=_BATCH))
            if not batch:
                return out, None
            for entry_id, fields in batch:
                scanned += 1
                record_id = text(entry_id)
                top = f"({record_id}"
                record = {"id": record_id, **json.loads(fields[b"r"])}
                if match is None or match(record):
                    out.append(record)
                    if len(out) == limit:
                        return out, record_id
        return out, top[1:]
