"""Review holds as the API shows them, and the submit answer for a held message.

Pure: pydantic only. A hold's fields come from ``bridge.storage.reviews``;
``ReviewDetail.message`` is the full message: the stored record of an
inbound hold, or what was submitted for an outbound one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bridge.schemas.accounts import ACCOUNT_ID_PATTERN
from bridge.schemas.common import ApiModel


class ReviewQuery(ApiModel):
    account: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    limit: int = Field(default=50, ge=1, le=500)


class ReviewOut(ApiModel):
    id: str
    account: str
    direction: Literal["inbound", "outbound"]
    state: Literal["pending", "approved", "rejected", "expired"]
    message_id: str
    subject: str
    from_: str = Field(alias="from")
    recipients: list[str]
    preview: str
    decision: str
    rule: str
    reason: str
    body_sha256: str
    created_at: str
    expires_at: str
    on_expiry: Literal["reject", "approve"]
    reviewers: list[str]
    decided_at: str | None = None
    decided_by: str | None = Field(default=None, description="token:<id>, link:<reviewer> or expiry")
    outcome: Literal["approve", "reject"] | None = None
    queue_id: str | None = Field(default=None, description="outbox entry of an approved outbound message")

    @classmethod
    def of(cls, doc: dict[str, Any]) -> ReviewOut:
        return cls.model_validate(_fields(doc))


class ReviewDetail(ReviewOut):
    message: dict[str, Any] | None = None

    @classmethod
    def with_message(cls, doc: dict[str, Any], message: dict[str, Any] | None) -> ReviewDetail:
        return cls.model_validate({**_fields(doc), "message": message})


class ReviewList(ApiModel):
    reviews: list[ReviewOut]


class ReviewPending(ApiModel):
    """The 202 answer of submit when policy holds the message for review."""

    status: Literal["pending_review"] = "pending_review"
    review_id: str
    message_id: str


def _fields(doc: dict[str, Any]) -> dict[str, Any]:
    out = {
        name: doc.get(name)
        for name in (
            "id", "account", "direction", "state", "messageId", "subject", "from", "recipients", "preview",
            "decision", "rule", "reason", "bodySha256", "createdAt", "onExpiry", "reviewers", "decidedAt",
            "decidedBy", "outcome", "queueId",
        )
    }  # fmt: skip
    out["expiresAt"] = doc.get("expiresAtIso")
    out["recipients"] = out["recipients"] or []
    out["reviewers"] = out["reviewers"] or []
    return out
