"""Everything Mailbridge keeps in Redis, one module per resource.

``Storage`` bundles the stores over one Redis connection; callers use
``storage.accounts``, ``storage.tokens`` and so on.

The only package that imports redis (with ``jobs`` and ``runtime.embedded_redis``).
May import: crypto, mail, events.model, metrics.model, oauth (``Storage`` holds the token manager;
presets and status are values), schemas.policy, policy.verdict, webhooks.delivery,
webhooks.signing.
Purity: none
"""

from __future__ import annotations

import redis

from bridge.config import EventRetention
from bridge.crypto import Vault
from bridge.storage.accounts import AccountStore
from bridge.storage.audit import AuditStore
from bridge.storage.base import connect, redis_errors, utc_now
from bridge.storage.commands import CommandStore
from bridge.storage.console_sessions import ConsoleSessionStore
from bridge.storage.events import EventStore
from bridge.storage.mailstate import MailStateStore
from bridge.storage.messages import MessageStore
from bridge.storage.metrics import MetricsStore
from bridge.storage.oauth import OAuthStore
from bridge.storage.outbox import OutboxStore
from bridge.storage.policy import PolicyStore
from bridge.storage.processes import ProcessStore
from bridge.storage.publish import Publisher
from bridge.storage.reviews import ReviewStore
from bridge.storage.suppressions import SuppressionStore
from bridge.storage.tokens import TokenStore
from bridge.storage.webhooks import WebhookStore

__all__ = ["Storage", "connect", "utc_now"]


class Storage:
    """All stores over one Redis client."""

    def __init__(self, client: redis.Redis, vault: Vault, event_retention: EventRetention | None = None) -> None:
        self.redis = client
        self.vault = vault
        self.tokens = TokenStore(client)
        self.accounts = AccountStore(client, vault)
        self.processes = ProcessStore(client)
        self.events = EventStore(client)
        self.messages = MessageStore(client)
        self.outbox = OutboxStore(client)
        self.mailstate = MailStateStore(client)
        self.webhooks = WebhookStore(client, vault)
        self.publisher = Publisher(client, self.webhooks.retention_s, event_retention)
        self.policies = PolicyStore(client)
        self.reviews = ReviewStore(client)
        self.audit = AuditStore(client)
        self.suppressions = SuppressionStore(client)
        self.commands = CommandStore(client)
        self.oauth = OAuthStore(client, vault)
        self.metrics = MetricsStore(client)
        self.console_sessions = ConsoleSessionStore(client)
        # Here, not at the top: bridge.oauth.tokens imports this package's oauth module.
        from bridge.oauth.tokens import TokenManager

        self.oauth_tokens = TokenManager(self.oauth, on_revoked=self._token_revoked)
        self.accounts.bind = self.oauth_tokens.bind

    def _token_revoked(self, account_id: str, reason: str) -> None:
        from bridge.oauth.status import report_revoked  # emits events: above this package

        report_revoked(self, account_id, reason)

    @redis_errors
    def ping(self) -> bool:
        return bool(self.redis.ping())
