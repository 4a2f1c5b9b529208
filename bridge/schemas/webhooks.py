"""Webhook resources: subscriptions (secret shown once), deliveries and their attempts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from bridge.delivery import Attempt, Delivery, DeliveryStatus, Subscription
from bridge.events import EventName
from bridge.schemas.accounts import ACCOUNT_ID_PATTERN
from bridge.schemas.common import ApiModel, Matching
from bridge.ssrf import MAX_URL_LENGTH, check_url


def _check_url(value: str) -> str:
    check_url(value)  # ValueError becomes a 400 naming the field
    return value


# What check_url takes, as a pattern: http or https; a host name, an IPv4 address or a bracketed IPv6
# address (RFC 3986 § 3.2.2; the forms below are the ones ipaddress parses); no credentials; a port up
# to 65535; then printable ASCII but '#' (no fragment) and space.
_PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_H16 = r"[0-9A-Fa-f]{1,4}"
_IPV4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
_IPV6 = "|".join(
    (
        rf"(?:{_H16}:){{7}}{_H16}",
        rf"(?:{_H16}:){{1,7}}:",
        rf"(?:{_H16}:){{1,6}}:{_H16}",
        rf"(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}",
        rf"(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}",
        rf"(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}",
        rf"(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}",
        rf"{_H16}:(?::{_H16}){{1,6}}",
        rf":(?:(?::{_H16}){{1,7}}|:)",
        rf"::(?:[Ff]{{4}}:)?{_IPV4}",
    )
)
URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[(?:{_IPV6})\])"
    rf"(?::{_PORT})?(?:[/?][!\x22$-~]*)?$"
)

WebhookUrl = Annotated[
    str,
    Field(max_length=MAX_URL_LENGTH),
    Matching(URL_PATTERN, "must be an http:// or https:// URL without credentials or fragment"),
    AfterValidator(_check_url),
]


def iso_time(epoch: float | None) -> str | None:
    """Epoch seconds as an RFC 3339 UTC string with milliseconds (None stays None)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
