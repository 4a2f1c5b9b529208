"""Webhooks: subscribe, list, unsubscribe, rotate the secret, read deliveries, redeliver."""

from __future__ import annotations

import time

from flask import Blueprint

from bridge import jobs
from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.models import TokenScope
from bridge.schemas.common import Deleted
from bridge.schemas.webhooks import (
    DeliveryList,
    DeliveryOut,
    DeliveryQuery,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    iso_time,
)
from bridge.storage import Storage
from bridge.webhooks.delivery import DEFAULT_POLICY, Delivery, Subscription
from bridge.webhooks.dispatcher import check_registration

bp = Blueprint("webhooks", __name__)


@endpoint(
    bp,
    "/webhooks",
    "POST",
    summary="Subscribe a URL to events",
    body=WebhookCreate,
    response=WebhookCreated,
    status=201,
    errors=(404,),
    description=(
        "Deliveries are signed the Standard Webhooks way with the returned secret, which is shown only here. "
        "In production, URLs that resolve to loopback, private, link-local or other non-public addresses are refused."
    ),
    scope=TokenScope.MANAGE,
)
def create(body: WebhookCreate) -> WebhookCreated:
    svc = services()
    sub, secret = subscribe(svc.storage, body, production=svc.settings.production)
    return WebhookCreated(**WebhookOut.of(sub).model_dump(), secret=secret)


def subscribe(storage: Storage, body: WebhookCreate, *, production: bool) -> tuple[Subscription, str]:
    """Check the URL and account, store the subscription; returns it and its secret (the console calls this too)."""
    check_registration(body.url, production=production)
    if body.account is not None:
        storage.accounts.get(body.account)  # NotFound for an unknown account
    events = tuple(e.value for e in body.events) if body.events is not None else None
    return storage.webhooks.create(body.url, events, body.account)


@endpoint(
    bp,
    "/webhooks",
    "GET",
    summary="List webhook subscriptions (without secrets)",
    response=WebhookList,
    scope=TokenScope.MANAGE,
)
def list_all() -> WebhookList:
    return WebhookList(webhooks=[WebhookOut.of(s) for s in services().storage.webhooks.all()])


@endpoint(
    bp,
    "/webhooks/<webhook_id>",
    "GET",
    summary="Get a webhook subscription",
    response=WebhookOut,
    errors=(404,),
    scope=TokenScope.MANAGE,
)
def get(webhook_id: str) -> WebhookOut:
    return WebhookOut.of(services().storage.webhooks.get(webhook_id))


@endpoint(
    bp,
    "/webhooks/<webhook_id>",
    "DELETE",
    summary="Delete a webhook subscription",
    response=Deleted,
    errors=(404,),
    scope=TokenScope.MANAGE,
)
def delete(webhook_id: str) -> Deleted:
    services().storage.webhooks.delete(webhook_id)
    return Deleted(id=webhook_id)


@endpoint(
    bp,
    "/webhooks/<webhook_id>/rotate-secret",
    "POST",
    summary="Rotate the signing secret",
    response=SecretRotated,
    errors=(404,),
    description="The new secret is shown only here. For 24 hours both secrets sign every delivery.",
    scope=TokenScope.MANAGE,
)
def rotate_secret(webhook_id: str) -> SecretRotated:
    now = time.time()
    sub, secret = services().storage.webhooks.rotate(webhook_id, now)
    previous = [s.expires for s in sub.secrets if s.expires is not None]
    return SecretRotated(
        id=sub.id,
        secret=secret,
        previous_secret_expires=iso_time(max(previous)) if previous else None,
    )


@endpoint(
    bp,
    "/webhooks/<webhook_id>/deliveries",
    "GET",
    summary="Deliveries of a webhook with every attempt, newest first",
    query=DeliveryQuery,
    response=DeliveryList,
    errors=(404,),
    scope=TokenScope.MANAGE,
)
def deliveries(webhook_id: str, query: DeliveryQuery) -> DeliveryList:
    store = services().storage.webhooks
    store.get(webhook_id)
    page, cursor = store.page(
        webhook_id, limit=query.limit, before_seq=int(query.cursor) if query.cursor is not None else None
    )
    return DeliveryList(
        deliveries=[DeliveryOut.of(d, attempts) for d, attempts in page],
        next_cursor=str(cursor) if cursor is not None else None,
    )


@endpoint(
    bp,
    "/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver",
    "POST",
    summary="Send a delivery again",
    response=DeliveryOut,
    status=202,
    errors=(404, 410),
    description=(
        "Starts a new round of attempts with the same webhook-id (the event id) and a fresh timestamp and signature; "
        "the first attempt is queued at once. 410 eventTrimmed: the event is no longer in the account's event "
        "stream (BRIDGE_EVENT_RETENTION), and a delivered delivery keeps no copy of it."
    ),
    scope=TokenScope.MANAGE,
)
def redeliver(webhook_id: str, delivery_id: str) -> DeliveryOut:
    storage = services().storage
    reopened = redeliver_now(storage, webhook_id, delivery_id)
    return DeliveryOut.of(reopened, storage.webhooks.attempts(delivery_id))


def redeliver_now(storage: Storage, webhook_id: str, delivery_id: str) -> Delivery:
    """Open a new round of attempts for a delivery and queue its first one (the console calls this too)."""
    storage.webhooks.get(webhook_id)
    reopened = storage.webhooks.reopen(webhook_id, delivery_id, time.time(), DEFAULT_POLICY.grace)
    jobs.enqueue_webhook_delivery(storage.redis, delivery_id, reopened.attempts + 1)
    if storage.webhooks.sweeper.claim(3 * DEFAULT_POLICY.sweep_interval):
        jobs.enqueue_webhook_sweep(storage.redis, DEFAULT_POLICY.sweep_interval)
    return reopened
