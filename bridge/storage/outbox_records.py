"""How outbox entries look in Redis: the result types and the field encodings.

Used by ``bridge/storage/outbox.py`` (and ``reviews.py`` for idempotent
holds); split out to keep that module about operations. No Redis calls here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bridge import keys
from bridge.errors import Conflict
from bridge.storage.base import text

_JSON_FIELDS = ("envelope", "lastError", "reference")
_INT_FIELDS = ("attempts", "maxAttempts")


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of trying to take an entry for sending.

    ``status`` is "ok" (the caller holds the lease), "busy" (another worker
    does), "early" (not due yet; ``entry`` then holds only ``due``), "missing",
    or the entry's final state.
    """

    status: str
    entry: dict[str, Any]
    raw: bytes
    helper: bool = False


@dataclass(frozen=True, slots=True)
class Created:
    """The outcome of ``create``: the answer to give, and whether a sweep or drain job must be started."""

    answer: dict[str, Any]
    replayed: bool = False
    start_sweeper: bool = False
    start_drainer: bool = False


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """An Idempotency-Key and the fingerprint of the request body that came with it."""

    account: str
    key: str
    fingerprint: str

    @property
    def redis_key(self) -> str:
        return keys.idempotency(self.account, keys.header_id_hash(self.key))


def claim_of(reply: list[Any]) -> Claim:
    status = text(reply[0])
    if status == "early":
        return Claim(status=status, entry={"due": float(text(reply[1]))}, raw=b"")
    if status != "ok":
        return Claim(status=status, entry={}, raw=b"")
    fields = reply[2:]
    entry = decode(dict(zip(fields[::2], fields[1::2], strict=True)))
    raw = reply[1] if isinstance(reply[1], bytes) else text(reply[1]).encode()
    return Claim(status="ok", entry=entry, raw=raw)


def stored_answer(stored: Any, fingerprint: str) -> dict[str, Any] | None:
    """The first answer given for an Idempotency-Key, or None when the key is unused.

    Raises:
        Conflict: the key came with another request body before.
    """
    if stored is None:
        return None
    record = json.loads(stored)
    if record["fingerprint"] != fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body", code="idempotencyKeyReused"
        )
    answer: dict[str, Any] = record["answer"]
    return answer


def encode(fields: dict[str, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for name, value in fields.items():
        if name in _JSON_FIELDS:
            out[name] = json.dumps(value) if value is not None else ""
        elif isinstance(value, bool):
            out[name] = "1" if value else ""
        else:
            out[name] = "" if value is None else str(value)
    return out


def decode(raw: dict[Any, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {text(k): text(v) for k, v in raw.items()}
    for name in _JSON_FIELDS:
        entry[name] = json.loads(entry[name]) if entry.get(name) else None
    for name in _INT_FIELDS:
        entry[name] = int(entry.get(name) or 0)
    return entry
