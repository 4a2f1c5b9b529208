"""The clients a request needs, kept in ``app.extensions["bridge"]``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from bridge.config import Settings
from bridge.storage import Storage


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    storage: Storage


def services() -> Services:
    """The Services of the app serving this request."""
    found: Services = current_app.extensions["bridge"]
    return found
