"""Outbox: queued, scheduled and retrying messages; cancel before they are sent."""

from __future__ import annotations

from flask import Blueprint

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.models import TokenScope
from bridge.outbound import submit as outbound
from bridge.schemas.common import Deleted
from bridge.schemas.submit import OutboxEntryOut, OutboxList, OutboxQuery

bp = Blueprint("outbox", __name__)


@endpoint(
    bp,
    "/outbox",
    "GET",
    summary="List unsent messages (queued, scheduled, sending, retrying)",
    query=OutboxQuery,
    response=OutboxList,
    scope=TokenScope.SEND,
)
def list_all(query: OutboxQuery) -> OutboxList:
    entries = services().storage.outbox.active(query.limit, account=query.account)
    return OutboxList(messages=[OutboxEntryOut.of(e.to_json()) for e in entries])


@endpoint(
    bp,
    "/outbox/<queue_id>",
    "GET",
    summary="A submitted message's state, attempts and last error",
    response=OutboxEntryOut,
    errors=(404,),
    description="Finished entries stay readable for 7 days.",
    scope=TokenScope.SEND,
)
def get(queue_id: str) -> OutboxEntryOut:
    return OutboxEntryOut.of(services().storage.outbox.get(queue_id).to_json())


@endpoint(
    bp,
    "/outbox/<queue_id>",
    "DELETE",
    summary="Cancel a message that has not started sending",
    response=Deleted,
    errors=(404, 409),
    scope=TokenScope.SEND,
)
def cancel(queue_id: str) -> Deleted:
    outbound.cancel(services().storage, queue_id)
    return Deleted(id=queue_id)
