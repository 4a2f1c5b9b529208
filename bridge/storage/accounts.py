"""Accounts: the stored document with credentials sealed by the Vault.

Credentials are encrypted before they reach Redis, each bound to
``account:<id>:<imap|smtp>:<field>`` so a sealed value cannot be moved to
another account or field.

An OAuth 2.0 account is stored with its binding (app or token URL) only; its
tokens live in ``bridge.storage.oauth``. ``bind``, when set (``Storage`` sets
it), attaches the current-token provider to every account read, so whoever
opens a connection for it (watcher, sender, API) uses the current token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import redis

from bridge import keys
from bridge.config import Secret
from bridge.crypto import Vault
from bridge.errors import Conflict, NotFound
from bridge.models import Account, AccountError, AccountState, ConnectionState, MailboxFault, OAuthBinding, ServerConfig
from bridge.storage.base import redis_errors, text, utc_now


class AccountStore:
    def __init__(self, client: redis.Redis, vault: Vault) -> None:
        self.redis = client
        self._vault = vault
        self.bind: Callable[[Account], Account] | None = None

    @redis_errors
    def create(self, account: Account) -> Account:
        """Raises: Conflict when the id is taken."""
        now = utc_now()
        stored = _with_times(account, created=now, updated=now)
        if not self.redis.set(keys.account(account.id), self._encode(stored), nx=True):
            raise Conflict(f"account {account.id!r} already exists", code="accountExists")
        self.redis.zadd(keys.account_ids(), {account.id: time.time()})
        return stored

    @redis_errors
    def replace(self, account: Account) -> Account:
        """Raises: NotFound when the account does not exist."""
        current = self.get(account.id)
        stored = _with_times(account, created=current.created, updated=utc_now())
        if not self.redis.set(keys.account(account.id), self._encode(stored), xx=True):
            raise NotFound(f"no account {account.id!r}")
        return stored

    @redis_errors
    def get(self, account_id: str) -> Account:
        """Raises: NotFound when the account does not exist."""
        raw = self.redis.get(keys.account(account_id))
        if raw is None:
            raise NotFound(f"no account {account_id!r}", code="accountNotFound")
        return self._decode(json.loads(raw))

    @redis_errors
    def list(self) -> list[Account]:
        ids = [text(i) for i in self.redis.zrange(keys.account_ids(), 0, -1)]
        if not ids:
            return []
        docs = self.redis.mget([keys.account(i) for i in ids])
        return [self._decode(json.loads(d)) for d in docs if d is not None]

    @redis_errors
    def delete(self, account_id: str) -> None:
        """Detach an account and purge what was kept under it (messages, events, policy, …).

        Raises: NotFound when the account does not exist.
        """
        pipe = self.redis.pipeline()
        pipe.delete(keys.account(account_id), keys.account_lease(account_id))
        pipe.zrem(keys.account_ids(), account_id)
        deleted, *_ = pipe.execute()
        if not deleted:
            raise NotFound(f"no account {account_id!r}", code="accountNotFound")
        # A new account with the same id must not inherit its predecessor's mail or policy.
        batch: list[bytes | str] = []
        for key in self.redis.scan_iter(match=keys.account_data_pattern(account_id), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.redis.unlink(*batch)
                batch.clear()
        if batch:
            self.redis.unlink(*batch)

    @redis_errors
    def set_state(self, account_id: str, state: AccountState) -> None:
        error = state.error
        self.redis.hset(
            keys.account_state(account_id),
            mapping={
                "state": state.state.value,
                "since": state.since or utc_now(),
                "error": error.message if error else "",
                "errorCode": error.code.value if error else "",
                "errorTime": error.at if error else "",
                "nextRetry": state.next_retry or "",
            },
        )

    @redis_errors
    def get_state(self, account_id: str) -> AccountState:
        raw = {text(k): text(v) for k, v in self.redis.hgetall(keys.account_state(account_id)).items()}
        if not raw:
            return AccountState(state=ConnectionState.INIT)
        state = ConnectionState(raw["state"])
        error = None
        if raw.get("error"):
            error = AccountError(
                code=_fault(raw.get("errorCode"), state),
                message=raw["error"],
                at=raw.get("errorTime") or raw.get("since") or "",
            )
        return AccountState(
            state=state,
            error=error,
            since=raw.get("since"),
            next_retry=raw.get("nextRetry") or None,
        )

    def _encode(self, account: Account) -> str:
        doc: dict[str, Any] = {
            "id": account.id,
            "name": account.name,
            "email": account.email,
            "imap": self._encode_server(account.id, "imap", account.imap),
            "smtp": self._encode_server(account.id, "smtp", account.smtp) if account.smtp else None,
            "watch": list(account.watch),
            "backfill": account.backfill,
            "trustedReceivers": list(account.trusted_receivers) if account.trusted_receivers is not None else None,
            "trustedArcSealers": list(account.trusted_arc_sealers),
            "oauth2": {"app": account.oauth.app, "tokenUrl": account.oauth.token_url} if account.oauth else None,
            "created": account.created,
            "updated": account.updated,
        }
        return json.dumps(doc)

    def _decode(self, doc: dict[str, Any]) -> Account:
        trusted = doc.get("trustedReceivers")
        oauth = doc.get("oauth2")
        account = Account(
            id=doc["id"],
            name=doc.get("name", ""),
            email=doc["email"],
            imap=self._decode_server(doc["id"], "imap", doc["imap"]),
            smtp=self._decode_server(doc["id"], "smtp", doc["smtp"]) if doc.get("smtp") else None,
            watch=tuple(doc.get("watch") or ("INBOX",)),
            backfill=int(doc.get("backfill", 0)),
            trusted_receivers=tuple(trusted) if trusted is not None else None,
            trusted_arc_sealers=tuple(doc.get("trustedArcSealers") or ()),
            oauth=OAuthBinding(app=oauth.get("app"), token_url=oauth.get("tokenUrl")) if oauth else None,
            created=doc.get("created", ""),
            updated=doc.get("updated", ""),
        )
        return self.bind(account) if self.bind is not None and account.oauth is not None else account

    def _encode_server(self, account_id: str, side: str, server: ServerConfig) -> dict[str, Any]:
        def seal(field: str, value: Secret | None) -> str | None:
            return (
                None if value is None else self._vault.encrypt(value.reveal(), f"account:{account_id}:{side}:{field}")
            )

        return {
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": seal("password", server.password),
            "accessToken": seal("accessToken", server.access_token),
            "secure": server.secure,
            "starttls": server.starttls,
            "rejectUnauthorized": server.reject_unauthorized,
        }

    def _decode_server(self, account_id: str, side: str, doc: dict[str, Any]) -> ServerConfig:
        def unseal(field: str) -> Secret | None:
            value = doc.get(field)
            return None if value is None else Secret(self._vault.decrypt(value, f"account:{account_id}:{side}:{field}"))

        return ServerConfig(
            host=doc["host"],
            port=int(doc["port"]),
            user=doc["user"],
            password=unseal("password"),
            access_token=unseal("accessToken"),
            secure=bool(doc["secure"]),
            starttls=doc.get("starttls"),
            reject_unauthorized=bool(doc.get("rejectUnauthorized", True)),
        )


def _with_times(account: Account, *, created: str, updated: str) -> Account:
    return replace(account, created=created, updated=updated)


def _fault(code: str | None, state: ConnectionState) -> MailboxFault:
    # A state written before error codes existed (or by a newer version) has none we know.
    try:
        return MailboxFault(code or "")
    except ValueError:
        if state is ConnectionState.AUTHENTICATION_ERROR:
            return MailboxFault.AUTHENTICATION_FAILED
        return MailboxFault.CONNECTION_LOST
