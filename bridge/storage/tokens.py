"""API tokens: stored as SHA-256 hashes, never as the token."""

from __future__ import annotations

import secrets
import time

import redis

from bridge import keys
from bridge.crypto import hash_token, new_api_token
from bridge.errors import NotFound
from bridge.models import ApiToken
from bridge.storage.base import redis_errors, text, utc_now

# Updating last_used on every request would turn each read into a write.
_LAST_USED_RESOLUTION_S = 60

# Every API request authenticates: one round trip finds the token id by hash and, at most
# once a minute, records when it was last used (the token hash key prefix comes from keys).
_AUTHENTICATE = """
local tid = redis.call('GET', KEYS[1])
if not tid then return false end
local key = ARGV[1] .. tid
local last = redis.call('HGET', key, 'last_used_ts')
if (not last) or tonumber(ARGV[2]) - tonumber(last) > tonumber(ARGV[3]) then
  redis.call('HSET', key, 'last_used', ARGV[4], 'last_used_ts', ARGV[2])
end
return tid
"""


class TokenStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._authenticate = client.register_script(_AUTHENTICATE)

    @redis_errors
    def create(self, description: str) -> tuple[ApiToken, str]:
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

    @redis_errors
    def list(self) -> list[ApiToken]:
        ids = [text(i) for i in self.redis.zrange(keys.token_ids(), 0, -1)]
        return [t for t in (self._load(i) for i in ids) if t is not None]

    def _load(self, token_id: str) -> ApiToken | None:
        raw = self.redis.hgetall(keys.token(token_id))
        if not raw:
            return None
        data = {text(k): text(v) for k, v in raw.items()}
        return ApiToken(
            id=token_id,
            description=data.get("description", ""),
            created=data["created"],
            last_used=data.get("last_used"),
        )

    @redis_errors
    def revoke(self, token_id: str) -> None:
        """Raises: NotFound when no such token exists."""
        token_hash = self.redis.hget(keys.token(token_id), "hash")
        if token_hash is None:
            raise NotFound(f"no API token {token_id!r}")
        pipe = self.redis.pipeline()
        pipe.delete(keys.token(token_id), keys.token_by_hash(text(token_hash)))
        pipe.zrem(keys.token_ids(), token_id)
        pipe.execute()

    @redis_errors
    def authenticate(self, token: str) -> str | None:
        """Return the token id for a presented token, or None."""
        found = self._authenticate(
            keys=[keys.token_by_hash(hash_token(token))],
            args=[keys.token(""), repr(time.time()), _LAST_USED_RESOLUTION_S, utc_now()],
        )
        return text(found) if found is not None else None
