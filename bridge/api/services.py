"""The clients a request needs, kept in ``app.extensions["bridge"]``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app

from bridge.config import Settings
from bridge.storage import Storage


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    storage: Storage
    # Set when this process is told to stop (bridge.api.server.JsonErrorWorker): long-lived
    # handlers (the WebSocket stream) end with a close frame instead of holding the shutdown up.
    stopping: threading.Event = field(default_factory=threading.Event)


def services() -> Services:
    """The Services of the app serving this request."""
    found: Services = current_app.extensions["bridge"]
    return found
