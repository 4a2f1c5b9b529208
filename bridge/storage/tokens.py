"""API tokens: stored as SHA-256 hashes, never as the token, with their scopes and accounts.

A token's hash (``keys.token``) holds ``hash``, ``description``, ``created``,
``last_used``, ``scopes`` (comma-separated ``TokenScope`` values) and
``accounts`` (a JSON list; absent for every account). A token stored before
scopes existed has no ``scopes`` field and is read as ``admin``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable

import redis

from bridge import keys
from bridge.crypto import hash_token, new_api_token
from bridge.errors import NotFound
from bridge.models import ApiToken, TokenScope
from bridge.storage.base import redis_errors, text, utc_now

# Updating last_used on every request would turn each read into a write.
_LAST_USED_RESOLUTION_S = 60
_FIELDS = ("description", "created", "last_used", "scopes", "accounts")

# Every API request authenticates: one round trip finds the token by hash, reads what it may
# do and, at most once a minute, records when it was last used (the token hash key prefix
# comes from keys). Returns {id, description, created, last_used, scopes, accounts}.
_AUTHENTICATE = """
local tid = redis.call('GET', KEYS[1])
if not tid then return false end
local key = ARGV[1] .. tid
local last = redis.call('HGET', key, 'last_used_ts')
if (not last) or tonumber(ARGV[2]) - tonumber(last) > tonumber(ARGV[3]) then
  redis.call('HSET', key, 'last_used', ARGV[4], 'last_used_ts', ARGV[2])
end
local f = redis.call('HMGET', key, 'description', 'created', 'last_used', 'scopes', 'accounts')
-- A nil inside a Lua table ends the array reply; false is sent as a null in its place.
for i = 1, 5 do if not f[i] then f[i] = false end end
return {tid, f[1], f[2], f[3], f[4], f[5]}
"""

# Replace a token's account list only while the token exists: a revoke racing the update must not
# leave a hash behind. KEYS[1] the token's hash; ARGV[1] the old list (unchanged meanwhile), ARGV[2] the new.
_SET_ACCOUNTS = """
if redis.call('HGET', KEYS[1], 'accounts') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'accounts', ARGV[2])
return 1
"""


def _scopes(raw: str | None) -> frozenset[TokenScope]:
    if raw is None:
        return frozenset({TokenScope.ADMIN})  # stored before scopes existed: it could do everything
    known = {s.value for s in TokenScope}
    # An unknown name (written by a newer version) grants nothing rather than failing every request.
    return frozenset(TokenScope(s) for s in raw.split(",") if s in known)


def _accounts(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    return frozenset(str(a) for a in json.loads(raw))


def _token(token_id: str, data: dict[str, str | None]) -> ApiToken:
    return ApiToken(
        id=token_id,
        description=data.get("description") or "",
        created=data.get("created") or "",
        last_used=data.get("last_used"),
        scopes=_scopes(data.get("scopes")),
        accounts=_accounts(data.get("accounts")),
    )


class TokenStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._authenticate = client.register_script(_AUTHENTICATE)
        self._set_accounts = client.register_script(_SET_ACCOUNTS)

    @redis_errors
    def create(
        self,
        description: str,
        scopes: Iterable[TokenScope] = (TokenScope.ADMIN,),
        accounts: Iterable[str] | None = None,
    ) -> tuple[ApiToken, str]:
        """Store a new token's hash. Returns the metadata and the token, shown once.

        Args:
            scopes: what it may do (default ``admin``, as every token before scopes).
            accounts: the only accounts it may act on; None for every account.
        """
        token = new_api_token()
        record = ApiToken(
            id="tok_" + secrets.token_hex(6),
            description=description,
            created=utc_now(),
            scopes=frozenset(scopes),
            accounts=None if accounts is None else frozenset(accounts),
        )
        pipe = self.redis.pipeline()
        pipe.hset(
            keys.token(record.id),
            mapping={
                "hash": hash_token(token),
                "description": description,
                "created": record.created,
                "scopes": ",".join(sorted(record.scopes)),
            },
        )
        if record.accounts is not None:
            pipe.hset(keys.token(record.id), "accounts", json.dumps(sorted(record.accounts)))
        pipe.set(keys.token_by_hash(hash_token(token)), record.id)
        pipe.zadd(keys.token_ids(), {record.id: time.time()})
        pipe.execute()
        return record, token

    @redis_errors
    def list(self) -> list[ApiToken]:
        ids = [text(i) for i in self.redis.zrange(keys.token_ids(), 0, -1)]
        return [t for t in (self._load(i) for i in ids) if t is not None]

    @redis_errors
    def get(self, token_id: str) -> ApiToken:
        """Raises: NotFound when no such token exists."""
        found = self._load(token_id)
        if found is None:
            raise NotFound(f"no API token {token_id!r}", code="tokenNotFound")
        return found

    def _load(self, token_id: str) -> ApiToken | None:
        raw = self.redis.hgetall(keys.token(token_id))
        if not raw:
            return None
        return _token(token_id, {text(k): text(v) for k, v in raw.items()})

    @redis_errors
    def revoke(self, token_id: str) -> None:
        """Raises: NotFound when no such token exists."""
        token_hash = self.redis.hget(keys.token(token_id), "hash")
        if token_hash is None:
            raise NotFound(f"no API token {token_id!r}", code="tokenNotFound")
        pipe = self.redis.pipeline()
        pipe.delete(keys.token(token_id), keys.token_by_hash(text(token_hash)))
        pipe.zrem(keys.token_ids(), token_id)
        pipe.execute()

    @redis_errors
    def forget_account(self, account: str) -> None:
        """Take a deleted account out of every token limited to it.

        Otherwise a new account created later under the same id, possibly another person's mailbox,
        would be open to tokens that were given the old one. A token whose list becomes empty stays
        valid and reaches no account (its cross-account listings are empty), until it is revoked.
        """
        for token in self.list():
            if token.accounts is None or account not in token.accounts:
                continue
            old = json.dumps(sorted(token.accounts))
            new = json.dumps(sorted(token.accounts - {account}))
            self._set_accounts(keys=[keys.token(token.id)], args=[old, new])

    @redis_errors
    def authenticate(self, token: str) -> ApiToken | None:
        """Return the token's metadata, scopes and accounts for a presented token, or None."""
        found = self._authenticate(
            keys=[keys.token_by_hash(hash_token(token))],
            args=[keys.token(""), repr(time.time()), _LAST_USED_RESOLUTION_S, utc_now()],
        )
        if not found:
            return None
        values = [text(v) if v is not None else None for v in found]
        return _token(str(values[0]), dict(zip(_FIELDS, values[1:], strict=True)))
