"""Audit-log records and their listing (``GET /v1/account/{account}/audit``).

Pure: pydantic only. The record shape is written in ``bridge.review.audit``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bridge.policy.verdict import Decision
from bridge.schemas.common import ApiModel, DateTime, Matching

# Literals, not the enums: query parameters are documented inline (no $defs to point at).
OutcomeName = Literal["delivered", "held", "rejected", "approved", "expired"]
# What ?decision= accepts: an outcome, or one of the older decision names (matched against ``decision``).
DecisionName = Literal[
    "delivered", "held", "rejected", "approved", "expired", "rate_limited", "guard_hit", "review_approved",
    "review_rejected", "review_expired",
]  # fmt: skip
CauseKindName = Literal["rule", "guard", "rateLimit", "reviewer", "expiry", "default"]


# nextCursor of a page: the id of the last record (a Redis stream id, as bridge.storage.audit checks).
AUDIT_CURSOR_PATTERN = r"^[0-9]{1,15}-[0-9]{1,10}$"


class AuditQuery(ApiModel):
    decision: DecisionName | None = Field(
        default=None,
        description="an outcome (rejected finds every rejection, whatever caused it), or an older decision name",
    )
    outcome: OutcomeName | None = Field(default=None, description="what happened to the message: outcome")
    cause: CauseKindName | None = Field(default=None, description="what decided: cause.kind")
    since: DateTime | None = Field(default=None, description="at or after (RFC 3339; no offset means UTC)")
    sender: str | None = Field(default=None, description="sender address, case-insensitive")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: (
        Annotated[str, Matching(AUDIT_CURSOR_PATTERN, "cursor is not one this API returned", "invalidCursor")] | None
    ) = Field(default=None, description="nextCursor of the last page")


class AuditCause(ApiModel):
    kind: CauseKindName
    rule: str | None = Field(default=None, description="JSON path of the policy rule, e.g. inbound.contentGuards[0]")
    reason: str | None = None
    by: str | None = Field(default=None, description="who acted, for reviewer and expiry causes")


class AuditRecord(ApiModel):
    id: str
    time: str
    direction: Literal["inbound", "outbound"]
    account: str
    message_id: str | None
    sender: str
    recipients: list[str]
    outcome: OutcomeName | None = Field(
        description="what happened to the message (null only for an older guard_hit or rate_limited record)"
    )
    cause: AuditCause
    decision: Decision = Field(description="the older single name, kept for compatibility: prefer outcome and cause")
    rule: str
    reason: str
    body_sha256: str | None
    by: str = Field(description="policy, token:<id>, link:<reviewer> or expiry")
    review_id: str | None = None


class AuditPage(ApiModel):
    records: list[AuditRecord]
    next_cursor: str | None
