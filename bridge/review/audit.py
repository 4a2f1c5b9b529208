"""Write one audit-log record per policy decision.

Orchestration over ``storage.audit``. The record shape is fixed here, once:
``{time, direction, account, messageId, sender, recipients, decision, rule,
reason, bodySha256, by, reviewId}``. ``by`` says who decided: ``policy``, an
API token (``token:<id>``), a magic link (``link:<reviewer address>``) or
``expiry``. Storage layout and retention: ``bridge.storage.audit``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.models import rfc3339
from bridge.storage import Storage

POLICY = "policy"
EXPIRY = "expiry"


def by_token(token_id: str) -> str:
    return f"token:{token_id}"


def by_link(reviewer: str) -> str:
    return f"link:{reviewer}"


def record(storage: Storage, entry: dict[str, Any], *, retention_days: int | None = None) -> str:
    """Append one ``document``; ``retention_days`` defaults to the account policy's. Returns the record id."""
    if retention_days is None:
        retention_days = storage.policies.get(entry["account"]).audit.retention_days
    now_ms = int(datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp() * 1000)
    return storage.audit.append(entry, retention_days=retention_days, now_ms=now_ms)


def document(
    *,
    now: datetime,
    direction: str,
    account: str,
    message_id: str | None,
    sender: str,
    recipients: list[str],
    decision: str,
    rule: str,
    reason: str,
    body_sha256: str | None,
    by: str = POLICY,
    review_id: str | None = None,
) -> dict[str, Any]:
    """The audit record; write it with ``record``, or several at once with ``storage.audit.append_many``."""
    return {
        "time": iso(now),
        "direction": direction,
        "account": account,
        "messageId": message_id,
        "sender": sender,
        "recipients": recipients,
        "decision": decision,
        "rule": rule,
        "reason": reason,
        "bodySha256": body_sha256,
        "by": by,
        "reviewId": review_id,
    }


def iso(value: datetime) -> str:
    """``value`` in UTC: an aware time in another zone used to be written with its offset."""
    return rfc3339(value)
