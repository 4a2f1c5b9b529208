"""Emit an event: append it to the account's stream, then fan it out to webhooks.

The one function every producer (watcher pipeline, send worker, review
actions) calls, so an event reaches WebSocket clients (through the stream)
and webhook subscribers the same way whoever emitted it.
"""

from __future__ import annotations

from typing import Any

from bridge.events import Event
from bridge.storage import Storage


def emit(storage: Storage, account: str, name: str, data: dict[str, Any]) -> Event:
    """Store the event and schedule its webhook deliveries; returns the stored event."""
    event = storage.events.append(account, name, data)
    # Webhook fan-out is added by the webhooks subsystem.
    return event
