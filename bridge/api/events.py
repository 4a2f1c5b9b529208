"""``GET /v1/account/{account}/events``: the account's events after a cursor, as one long poll.

The WebSocket stream's REST sibling for clients that cannot hold a socket (an MCP tool call, a
cron job): same events, same ids, same retention. The request blocks up to ``timeout`` seconds
on the event store's blocking read when nothing matching is there yet, then answers what it has
and the cursor to continue from. Events of other names are skipped but move the cursor, so a
filtered poll never reads them again.
"""

from __future__ import annotations

import time

from flask import Blueprint

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.events.model import event_id, parse_event_id
from bridge.models import TokenScope
from bridge.schemas.events import EventPage, EventQuery

bp = Blueprint("events", __name__)

# One blocking read at most this long, so a poll whose account is deleted meanwhile ends soon.
READ_SLICE_MS = 5000


@endpoint(
    bp, "/account/<account>/events", "GET", summary="Events after a cursor (long poll up to timeout seconds)",
    query=EventQuery, response=EventPage, errors=(404,),
    description="Without cursor, only events after this request are returned. The answer's cursor continues "
    "after the returned events (and after skipped ones of other names).",
    scope=TokenScope.READ,
)  # fmt: skip
def list_events(account: str, query: EventQuery) -> EventPage:
    storage = services().storage
    storage.accounts.get(account)
    # The schema's pattern has checked the cursor's shape.
    after = (parse_event_id(query.cursor) or 0) if query.cursor else storage.events.last_seq(account)
    names = set(query.event.split(",")) if query.event else None
    deadline = time.monotonic() + query.timeout
    while True:
        batch = storage.events.since(account, after, count=query.limit)
        if not batch:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                return EventPage(events=[], cursor=event_id(after))
            batch = storage.events.wait(account, after, block_ms=min(left_ms, READ_SLICE_MS), count=query.limit)
            if not batch:
                continue
        after = batch[-1].seq
        found = [e.to_dict() for e in batch if names is None or e.event in names]
        if found or time.monotonic() >= deadline:
            return EventPage(events=found, cursor=event_id(after))
