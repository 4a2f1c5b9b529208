"""The browser tests reuse the API fixtures (settings, client, storage, auth, account bodies)."""

from __future__ import annotations

from tests.api.conftest import account_body, auth, client, settings, storage, token

__all__ = ["account_body", "auth", "client", "settings", "storage", "token"]
