"""The audit log of an account's policy decisions, newest first, with filters and a cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.errors import ValidationError
from bridge.models import TokenScope
from bridge.review import audit as auditing
from bridge.schemas.audit import AuditPage, AuditQuery
from bridge.schemas.audit import AuditRecord as AuditEntry
from bridge.storage import Storage
from bridge.storage.audit import is_cursor
from bridge.storage.audit_records import AuditRecord

bp = Blueprint("audit", __name__)

_CLOCK_SKEW_MS = 5 * 60 * 1000


@endpoint(
    bp, "/account/<account>/audit", "GET", summary="Policy decisions: outcome (delivered, held, rejected …) and cause",
    query=AuditQuery, response=AuditPage, errors=(404,),
    description="Records are kept for the policy's audit.retentionDays. Pass nextCursor back as cursor.",
    scope=TokenScope.MANAGE,
)  # fmt: skip
def list_records(account: str, query: AuditQuery) -> AuditPage:
    return find_records(services().storage, account, query)


def find_records(storage: Storage, account: str, query: AuditQuery) -> AuditPage:
    """One page of the account's audit records matching ``query`` (the console calls this too)."""
    storage.accounts.get(account)
    if query.cursor is not None and not is_cursor(query.cursor):
        raise ValidationError("cursor is not one this API returned", code="invalidCursor")
    retention = storage.policies.get(account).audit.retention_days
    oldest = datetime.now(UTC) - timedelta(days=retention)
    since = oldest
    if query.since is not None:
        since = max(oldest, query.since if query.since.tzinfo else query.since.replace(tzinfo=UTC))
    sender = query.sender.lower() if query.sender else None
    since_iso = auditing.iso(since.astimezone(UTC))

    def match(record: AuditRecord) -> bool:
        outcome = record.outcome.value if record.outcome is not None else None
        # ?decision= is an outcome, or one of the older decision names (guard_hit, review_rejected …).
        if query.decision is not None and query.decision not in (outcome, record.decision):
            return False
        if query.outcome is not None and query.outcome != outcome:
            return False
        if query.cause is not None and record.cause.kind.value != query.cause:
            return False
        if record.time < since_iso:  # same format throughout, so text order is time order
            return False
        return sender is None or record.sender.lower() == sender

    # Entry ids come from the Redis server's clock, record times from the writer's: allow for skew.
    since_ms = int(since.timestamp() * 1000) - _CLOCK_SKEW_MS
    found, cursor = storage.audit.page(
        account,
        limit=query.limit,
        before=query.cursor,
        since_ms=since_ms,
        match=match,
    )
    return AuditPage(records=[AuditEntry.model_validate(r.to_json()) for r in found], next_cursor=cursor)
