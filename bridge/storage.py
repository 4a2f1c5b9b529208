"""Redis reads and writes: tokens, accounts, live state, heartbeats.

I/O adapter and the only module that imports redis. No business rules: it
stores and loads what the callers decide. Every key comes from ``keys.py``.
Credentials are encrypted with the ``Vault`` before they reach Redis, bound
to ``account:<id>:<imap|smtp>:<field>``, and API tokens are kept as SHA-256.
Redis failures surface as ``StorageUnavailable``.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import redis
import redis.exceptions

from bridge import keys
from bridge.config import Secret
from bridge.crypto import Vault, hash_token, new_api_token
from bridge.errors import Conflict, NotFound, StorageUnavailable
from bridge.models import Account, AccountState, ApiToken, ConnectionState, ServerConfig

P = ParamSpec("P")
R = TypeVar("R")

# Updating last_used on every request would turn each read into a write.
_LAST_USED_RESOLUTION_S = 60


def _text(value: object) -> str:
    """Redis replies are bytes; redis-py's types also allow str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def utc_now() -> str:
    """The current time as an RFC 3339 UTC string with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _redis_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Translate redis-py errors into StorageUnavailable at the boundary."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except redis.exceptions.RedisError as exc:
            raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc

    return wrapper


def connect(url: str) -> redis.Redis:
    """A Redis client with bounded timeouts, so a dead Redis fails fast."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30)


class Storage:
    """Typed access to everything Mailbridge keeps in Redis."""

    def __init__(self, client: redis.Redis, vault: Vault) -> None:
        self.redis = client
        self._vault = vault

    @_redis_errors
    def ping(self) -> bool:
        return bool(self.redis.ping())

    # --- API tokens --------------------------------------------------------

    @_redis_errors
    def create_token(self, description: str) -> tuple[ApiToken, str]:
        """Store a new token's hash. Returns the metadata and the token, shown once."""
        token = new_api_token()
        record = ApiToken(id="tok_" + secrets.token_hex(6), description=description, created=utc_now())
        pipe = self.redis.pipeline()
        pipe.hset(
            keys.token(record.id),
            mapping={
                "hash": hash_token(token),
                "description": description,
                "created": record.created,
            },
        )
        pipe.set(keys.token_by_hash(hash_token(token)), record.id)
        pipe.zadd(keys.token_ids(), {record.id: time.time()})
        pipe.execute()
        return record, token

    @_redis_errors
    def list_tokens(self) -> list[ApiToken]:
        ids = [_text(i) for i in self.redis.zrange(keys.token_ids(), 0, -1)]
        return [t for t in (self._load_token(i) for i in ids) if t is not None]

    def _load_token(self, token_id: str) -> ApiToken | None:
        raw = self.redis.hgetall(keys.token(token_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return ApiToken(
            id=token_id,
            description=data.get("description", ""),
            created=data["created"],
            last_used=data.get("last_used"),
        )

    @_redis_errors
    def revoke_token(self, token_id: str) -> None:
        """Raises: NotFound when no such token exists."""
        token_hash = self.redis.hget(keys.token(token_id), "hash")
        if token_hash is None:
            raise NotFound(f"no API token {token_id!r}")
        pipe = self.redis.pipeline()
        pipe.delete(keys.token(token_id), keys.token_by_hash(_text(token_hash)))
        pipe.zrem(keys.token_ids(), token_id)
        pipe.execute()

    @_redis_errors
    def authenticate(self, token: str) -> str | None:
        """Return the token id for a presented token, or None."""
        token_id = self.redis.get(keys.token_by_hash(hash_token(token)))
        if token_id is None:
            return None
        tid = _text(token_id)
        now = time.time()
        last = self.redis.hget(keys.token(tid), "last_used_ts")
        if last is None or now - float(_text(last)) > _LAST_USED_RESOLUTION_S:
            self.redis.hset(
                keys.token(tid),
                mapping={"last_used": utc_now(), "last_used_ts": str(now)},
            )
        return tid

    # --- accounts ----------------------------------------------------------

    @_redis_errors
    def create_account(self, account: Account) -> Account:
        """Raises: Conflict when the id is taken."""
        now = utc_now()
        stored = _with_times(account, created=now, updated=now)
        if not self.redis.set(keys.account(account.id), self._encode(stored), nx=True):
            raise Conflict(f"account {account.id!r} already exists", code="accountExists")
        self.redis.zadd(keys.account_ids(), {account.id: time.time()})
        return stored

    @_redis_errors
    def replace_account(self, account: Account) -> Account:
        """Raises: NotFound when the account does not exist."""
        current = self.get_account(account.id)
        stored = _with_times(account, created=current.created, updated=utc_now())
        if not self.redis.set(keys.account(account.id), self._encode(stored), xx=True):
            raise NotFound(f"no account {account.id!r}")
        return stored

    @_redis_errors
    def get_account(self, account_id: str) -> Account:
        """Raises: NotFound when the account does not exist."""
        raw = self.redis.get(keys.account(account_id))
        if raw is None:
            raise NotFound(f"no account {account_id!r}", code="accountNotFound")
        return self._decode(json.loads(raw))

    @_redis_errors
    def list_accounts(self) -> list[Account]:
        ids = [_text(i) for i in self.redis.zrange(keys.account_ids(), 0, -1)]
        if not ids:
            return []
        docs = self.redis.mget([keys.account(i) for i in ids])
        return [self._decode(json.loads(d)) for d in docs if d is not None]

    @_redis_errors
    def delete_account(self, account_id: str) -> None:
        """Raises: NotFound when the account does not exist."""
        pipe = self.redis.pipeline()
        pipe.delete(keys.account(account_id), keys.account_state(account_id))
        pipe.zrem(keys.account_ids(), account_id)
        deleted, *_ = pipe.execute()
        if not deleted:
            raise NotFound(f"no account {account_id!r}", code="accountNotFound")

    @_redis_errors
    def set_account_state(self, account_id: str, state: AccountState) -> None:
        self.redis.hset(
            keys.account_state(account_id),
            mapping={
                "state": state.state.value,
                "since": state.since or utc_now(),
                "error": state.error or "",
            },
        )

    @_redis_errors
    def get_account_state(self, account_id: str) -> AccountState:
        raw = {_text(k): _text(v) for k, v in self.redis.hgetall(keys.account_state(account_id)).items()}
        if not raw:
            return AccountState(state=ConnectionState.INIT)
        return AccountState(
            state=ConnectionState(raw["state"]),
            error=raw.get("error") or None,
            since=raw.get("since"),
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
            "created": account.created,
            "updated": account.updated,
        }
        return json.dumps(doc)

    def _decode(self, doc: dict[str, Any]) -> Account:
        trusted = doc.get("trustedReceivers")
        return Account(
            id=doc["id"],
            name=doc.get("name", ""),
            email=doc["email"],
            imap=self._decode_server(doc["id"], "imap", doc["imap"]),
            smtp=self._decode_server(doc["id"], "smtp", doc["smtp"]) if doc.get("smtp") else None,
            watch=tuple(doc.get("watch") or ("INBOX",)),
            backfill=int(doc.get("backfill", 0)),
            trusted_receivers=tuple(trusted) if trusted is not None else None,
            created=doc.get("created", ""),
            updated=doc.get("updated", ""),
        )

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

    # --- processes ---------------------------------------------------------

    @_redis_errors
    def beat(self, role: str, process_id: str) -> None:
        """Record that a process of a role (watcher, worker) is alive."""
        self.redis.hset(keys.heartbeat(role), process_id, str(time.time()))

    @_redis_errors
    def live_processes(self, role: str, max_age_s: float) -> list[str]:
        """Processes of a role that beat within max_age_s; prunes the dead ones."""
        now = time.time()
        alive: list[str] = []
        dead: list[str] = []
        for pid, ts in self.redis.hgetall(keys.heartbeat(role)).items():
            (alive if now - float(ts) <= max_age_s else dead).append(_text(pid))
        if dead:
            self.redis.hdel(keys.heartbeat(role), *dead)
        return sorted(alive)


def _with_times(account: Account, *, created: str, updated: str) -> Account:
    return replace(account, created=created, updated=updated)
