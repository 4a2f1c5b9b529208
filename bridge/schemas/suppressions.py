"""The suppression list: addresses submit refuses (hard bounces, complaints, manual)."""

from __future__ import annotations

from pydantic import Field

from bridge.models import Suppression
from bridge.schemas.common import ApiModel, EmailAddress


class SuppressionIn(ApiModel):
    address: EmailAddress
    reason: str = Field(default="manual", min_length=1, max_length=200)


class SuppressionOut(ApiModel):
    address: str
    reason: str
    source: str = Field(description="bounce, complaint or manual")
    created: str
    message_id: str | None = Field(description="the stored bounce or complaint that caused it")

    @classmethod
    def of(cls, entry: Suppression) -> SuppressionOut:
        return cls(
            address=entry.address,
            reason=entry.reason,
            source=entry.source,
            created=entry.created,
            message_id=entry.message_id,
        )


class SuppressionList(ApiModel):
    suppressions: list[SuppressionOut]
