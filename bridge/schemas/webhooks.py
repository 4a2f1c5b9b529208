"""Webhook resources: subscriptions (secret shown once), deliveries and their attempts."""

from __future__ import annotations

from pydantic import Field, field_validator

from bridge.events.model import EventName
from bridge.models import rfc3339
from bridge.schemas.accounts import ACCOUNT_ID_PATTERN
from bridge.schemas.common import ApiModel, HttpUrl
from bridge.webhooks.delivery import Attempt, Delivery, DeliveryStatus, Subscription

# The same URL rules as every other URL the API takes (schemas/common.py).
WebhookUrl = HttpUrl


def iso_time(epoch: float | None) -> str | None:
    """Epoch seconds as an RFC 3339 UTC string with milliseconds (None stays None)."""
    if epoch is None:
        return None
    return rfc3339(epoch)


class WebhookCreate(ApiModel):
    url: WebhookUrl = Field(description="http(s) URL that receives signed POSTs; no credentials")
    events: list[EventName] | None = Field(
        default=None, min_length=1, description="Event names to send; omit for every event"
    )
    account: str | None = Field(
        default=None, pattern=ACCOUNT_ID_PATTERN, description="Only this account's events; omit for all accounts"
    )

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[EventName] | None) -> list[EventName] | None:
        return None if value is None else list(dict.fromkeys(value))


class WebhookOut(ApiModel):
    id: str
    url: str
    events: list[str] | None = Field(description="null: every event")
    account: str | None = Field(description="null: every account")
    created: str

    @classmethod
    def of(cls, sub: Subscription) -> WebhookOut:
        return cls(
            id=sub.id,
            url=sub.url,
            events=list(sub.events) if sub.events is not None else None,
            account=sub.account,
            created=sub.created,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_… signing secret; shown only in this response")


class WebhookList(ApiModel):
    webhooks: list[WebhookOut]


class SecretRotated(ApiModel):
    id: str
    secret: str = Field(description="The new whsec_… secret; shown only in this response")
    previous_secret_expires: str | None = Field(description="Until then the previous secret signs too")


class AttemptOut(ApiModel):
    attempt: int
    time: str
    status_code: int | None
    latency_ms: float
    error: str | None
    outcome: str = Field(description="delivered, retry or failed")
    next_attempt_at: str | None
    response: str | None = Field(default=None, description="the start of the response body (up to 300 bytes)")

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            attempt=a.attempt,
            time=a.at,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            error=a.error,
            outcome=a.outcome,
            next_attempt_at=iso_time(a.next_attempt_at),
            response=a.response,
        )


class DeliveryOut(ApiModel):
    id: str
    webhook_id: str = Field(description="the subscription")
    event_id: str = Field(description="also the webhook-id header of every attempt, redeliveries included")
    event: str
    account: str
    created: str
    status: str = Field(description="pending, delivered or failed")
    attempt_count: int
    next_attempt_at: str | None
    attempts: list[AttemptOut] = Field(description="newest first")

    @classmethod
    def of(cls, d: Delivery, attempts: list[Attempt]) -> DeliveryOut:
        return cls(
            id=d.id,
            webhook_id=d.webhook_id,
            event_id=d.event_id,
            event=d.event,
            account=d.account,
            created=d.created,
            status=d.status.value,
            attempt_count=d.attempts,
            next_attempt_at=iso_time(d.next_attempt_at) if d.status is DeliveryStatus.PENDING else None,
            attempts=[AttemptOut.of(a) for a in attempts],
        )


class DeliveryList(ApiModel):
    deliveries: list[DeliveryOut] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class DeliveryQuery(ApiModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, pattern=r"^[0-9]{1,19}$")
