"""Console sign-ins: which API token a browser signed in with, and the CSRF secret of its forms.

The cookie holds a random session id; Redis keeps only its SHA-256
(``keys.console_session``), so a dump of Redis signs nobody in. The record
names the token by id, never the token: each request reloads the token, so
revoking it ends every console session made with it. Sessions expire after
``SESSION_TTL_S`` without use (sliding), and at sign-out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis

from bridge import keys
from bridge.storage.base import redis_errors, text, utc_now

SESSION_TTL_S = 8 * 3600


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    token_id: str
    csrf: str
    created: str


def _key(session_id: str) -> str:
    return keys.console_session(hashlib.sha256(session_id.encode()).hexdigest())


class ConsoleSessionStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @redis_errors
    def create(self, token_id: str) -> tuple[str, ConsoleSession]:
        """A new session for ``token_id``; returns the cookie value (shown once) and the record."""
        session_id = secrets.token_urlsafe(32)
        record = ConsoleSession(token_id=token_id, csrf=secrets.token_urlsafe(32), created=utc_now())
        pipe = self.redis.pipeline()
        pipe.hset(_key(session_id), mapping={"token": token_id, "csrf": record.csrf, "created": record.created})
        pipe.expire(_key(session_id), SESSION_TTL_S)
        pipe.execute()
        return session_id, record

    @redis_errors
    def get(self, session_id: str) -> ConsoleSession | None:
        """The live session for a cookie value (its expiry renewed), or None."""
        pipe = self.redis.pipeline()
        pipe.hgetall(_key(session_id))
        pipe.expire(_key(session_id), SESSION_TTL_S)  # no-op for a missing key
        raw, _ = pipe.execute()
        fields = {text(k): text(v) for k, v in raw.items()}
        if "token" not in fields or "csrf" not in fields:
            return None
        return ConsoleSession(token_id=fields["token"], csrf=fields["csrf"], created=fields.get("created", ""))

    @redis_errors
    def delete(self, session_id: str) -> None:
        self.redis.delete(_key(session_id))
