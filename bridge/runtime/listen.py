"""``python app.py listen``: follow an account's event stream and hand each event to a local program.

For a laptop or a box without a public URL: the CLI connects out to Mailbridge's WebSocket stream
with the SDK's ``listen()`` (reconnects with backoff and resumes after the last event, so nothing
is lost or repeated across a disconnect or a server restart) and either

- ``--forward URL``: POSTs each event's JSON to a local handler, signed the Standard Webhooks way
  exactly like a real webhook delivery, so the same handler code (and ``verify_webhook``) serves
  both; a handler that is down or answers 5xx/408/429 is retried with backoff until it takes the
  event, a 4xx other than those is logged and the event skipped (as webhooks do); or
- ``--exec CMD``: runs CMD once per event with the event's JSON on its standard input (no shell;
  CMD is split like a shell would); a non-zero exit is logged.
"""

from __future__ import annotations

import json
import logging
import random
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from mailbridge import Mailbridge
from mailbridge.webhooks import sign

log = logging.getLogger(__name__)

FORWARD_TIMEOUT_S = 10.0
RETRY_CAP_S = 30.0
# Statuses after which the handler may take the event on a later try (as webhook delivery retries them).
_RETRYABLE = {408, 429}

Handler = Callable[[dict[str, Any]], None]


def forwarder(url: str, secret: str, *, http: httpx.Client, sleep: Callable[[float], None] = time.sleep) -> Handler:
    """POST each event to ``url``, signed with ``secret``; retried until the handler takes it."""

    def forward(event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        failures = 0
        while True:
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "webhook-id": str(event["id"]),
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, str(event["id"]), timestamp, body),
            }
            try:
                status = http.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                status, reason = 0, str(exc)
            else:
                reason = f"HTTP {status}"
            if 200 <= status < 300:
                return
            if 400 <= status < 500 and status not in _RETRYABLE:
                log.warning("the handler refused %s (%s); skipping it", event["id"], reason)
                return
            failures += 1
            delay = random.uniform(0, min(RETRY_CAP_S, 0.5 * 2 ** min(failures, 16)))  # noqa: S311 - jitter
            log.warning("forwarding %s failed (%s); retrying in %.1f s", event["id"], reason, delay)
            sleep(delay)

    return forward


def executor(command: str) -> Handler:
    """Run ``command`` once per event, the event's JSON on its standard input."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("--exec needs a command")

    def run(event: dict[str, Any]) -> None:
        done = subprocess.run(argv, input=json.dumps(event).encode(), check=False)  # noqa: S603 - the user's own command
        if done.returncode != 0:
            log.warning("%s exited with %s for %s", argv[0], done.returncode, event["id"])

    return run


def follow(events: Iterable[dict[str, Any]], handle: Handler) -> int:
    """Hand every event to ``handle``, in order; returns how many were handled (when the stream ends)."""
    count = 0
    for event in events:
        handle(event)
        count += 1
        log.info("%s %s handled", event["id"], event["event"])
    return count


def run(client: Mailbridge, account: str, handle: Handler, since: str | None = None) -> int:
    return follow(client.listen(account, since=since), handle)
