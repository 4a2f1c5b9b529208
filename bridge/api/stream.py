"""``GET /v1/account/{account}/stream``: events as JSON text frames (flask-sock).

Each frame is the same JSON as a webhook body. ``?since=<event id>`` first
replays what the client missed from the account's Redis Stream (bounded by
its retention), then the connection follows the stream live. Every client
has its own thread and its own read position, so a slow client only slows
itself; the watcher only appends to the stream and never waits for readers.
Tokens come in the Authorization header or ``?access_token=`` (browsers
cannot set headers on a WebSocket).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, g, request
from flask_sock import Sock

from bridge.api.openapi import Operation, document
from bridge.api.services import services
from bridge.errors import ValidationError
from bridge.events.model import parse_event_id
from bridge.models import TokenScope

bp = Blueprint("stream", __name__)
sock = Sock()

# How long one blocking read waits before the loop checks that the client is still there.
WAIT_MS = 1000
REPLAY_BATCH = 500
GOING_AWAY = 1001


@bp.before_request
def _check_request() -> None:
    """Answer 404/400 as JSON before the upgrade: after it, only close codes remain."""
    account = (request.view_args or {}).get("account", "")
    storage = services().storage
    storage.accounts.get(account)
    since = request.args.get("since")
    if since is None:
        g.stream_after = storage.events.last_seq(account)
    else:
        # evt_0 is "before the first event" (its documented pattern allows it; an empty account's
        # events cursor is evt_0): replay everything kept.
        seq = 0 if since == "evt_0" else parse_event_id(since)
        if seq is None:
            raise ValidationError(f"since must be an event id such as evt_42, not {since!r}", code="invalidEventId")
        g.stream_after = seq


@sock.route("/account/<account>/stream", bp=bp)  # type: ignore[untyped-decorator]  # flask-sock is untyped
@document(
    Operation(
        summary="Event stream (WebSocket): one JSON text frame per event, as webhook bodies",
        tag="stream",
        status=101,
        errors=(400, 404, 426),
        scope=TokenScope.READ,
        description="Upgrade with a WebSocket client. ?since=<event id> replays missed events first; "
        "the token may be given as ?access_token= when headers cannot be set.",
        extra_params=(
            {
                "name": "since",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": "^evt_[0-9]+$"},
            },
            {"name": "access_token", "in": "query", "required": False, "schema": {"type": "string"}},
        ),
    )
)
def stream(ws: Any, account: str) -> None:
    follow(ws, account, g.stream_after)


def follow(ws: Any, account: str, after: int) -> None:
    """Send the account's events after ``after`` as text frames, then live ones, while ``ws`` is open.

    Ends with a 1001 close frame when the server is stopping. The console's own stream route
    (session cookie instead of a token) calls this too.
    """
    found = services()
    storage, stopping = found.storage, found.stopping
    while ws.connected and not stopping.is_set():
        events = storage.events.since(account, after, count=REPLAY_BATCH)
        if not events:
            events = storage.events.wait(account, after, block_ms=WAIT_MS, count=REPLAY_BATCH)
        for event in events:
            ws.send(json.dumps(event.to_dict(), separators=(",", ":")))
            after = event.seq
    if stopping.is_set() and ws.connected:
        # RFC 6455 § 7.4.1: 1001, the server is going away. The client reconnects with ?since=
        # the last id it saw and misses nothing.
        ws.close(reason=GOING_AWAY, message="server shutting down")
