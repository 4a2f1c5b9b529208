"""OAuth 2.0 state in Redis: apps, pending sign-ins, and each account's tokens with its refresh lock.

Secrets (client secrets, PKCE verifiers, access and refresh tokens) are sealed
by the Vault, each bound to its owner and field (``oauth-app:<id>:clientSecret``,
``account:<id>:oauth:refresh`` …), like account passwords.

Tokens live apart from the account document: a refresh rewrites them every
hour, and a changed account document restarts its watcher. Their hash carries
a ``generation`` counter, and a refresh writes only while it holds the
account's lock and the generation is still the one it read (a fencing check),
so a refresh that outlived its lock can never overwrite a newer token: with
Microsoft's rotating refresh tokens that would lose the account.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

import redis

from bridge import keys
from bridge.config import Secret
from bridge.crypto import Vault
from bridge.errors import NotFound
from bridge.oauth.presets import MailHost, OAuthApp, Provider
from bridge.storage.base import redis_errors, text, utc_now

SIGNIN_TTL_S = 600  # a sign-in must come back within 10 minutes

# KEYS: token hash, lock. ARGV: owner, expected generation, field/value pairs.
_FENCED_WRITE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
if gen ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'generation', gen + 1, unpack(ARGV, 3))
return 1
"""
# KEYS: token hash. ARGV: field/value pairs. An unconditional write (a new sign-in) that still bumps the fence.
_INSTALL = """
redis.call('HINCRBY', KEYS[1], 'generation', 1)
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class TokenState:
    """An account's tokens as stored.

    Attributes:
        generation: bumped by every write; a refresh writes only over the generation it read.
        error: set when the grant failed for good; no refresh is tried until a new sign-in.
    """

    access_token: Secret | None = None
    refresh_token: Secret | None = None
    expires_at: float = 0.0
    issued_at: float = 0.0
    generation: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What the callback needs from the form call, kept until the provider sends the user back."""

    app: str
    account: str
    name: str | None
    redirect_url: str
    verifier: Secret
    login_hint: str = ""


class OAuthStore:
    def __init__(self, client: redis.Redis, vault: Vault) -> None:
        self.redis = client
        self._vault = vault
        self._fenced_write = client.register_script(_FENCED_WRITE)
        self._install = client.register_script(_INSTALL)
        self._release = client.register_script(_RELEASE)

    # -- apps ------------------------------------------------------------------

    @redis_errors
    def create_app(self, app: OAuthApp) -> OAuthApp:
        now = utc_now()
        stored = replace(app, id=app.id or f"oa_{secrets.token_hex(6)}", created=now, updated=now)
        self.redis.hset(keys.oauth_apps(), stored.id, self._encode_app(stored))
        return stored

    @redis_errors
    def replace_app(self, app: OAuthApp) -> OAuthApp:
        """Raises: NotFound."""
        current = self.get_app(app.id)
        stored = replace(app, created=current.created, updated=utc_now())
        self.redis.hset(keys.oauth_apps(), stored.id, self._encode_app(stored))
        return stored

    @redis_errors
    def get_app(self, app_id: str) -> OAuthApp:
        """Raises: NotFound (code oauthAppNotFound)."""
        raw = self.redis.hget(keys.oauth_apps(), app_id)
        if raw is None:
            raise NotFound(f"no OAuth2 app {app_id!r}", code="oauthAppNotFound")
        return self._decode_app(json.loads(raw))

    @redis_errors
    def list_apps(self) -> list[OAuthApp]:
        apps = [self._decode_app(json.loads(v)) for v in self.redis.hvals(keys.oauth_apps())]
        return sorted(apps, key=lambda a: (a.created, a.id))

    @redis_errors
    def delete_app(self, app_id: str) -> None:
        """Raises: NotFound."""
        if not self.redis.hdel(keys.oauth_apps(), app_id):
            raise NotFound(f"no OAuth2 app {app_id!r}", code="oauthAppNotFound")

    def _encode_app(self, app: OAuthApp) -> str:
        secret = app.client_secret
        return json.dumps(
            {
                "id": app.id,
                "provider": app.provider.value,
                "name": app.name,
                "clientId": app.client_id,
                "clientSecret": self._vault.encrypt(secret.reveal(), f"oauth-app:{app.id}:clientSecret")
                if secret is not None
                else None,
                "redirectUrl": app.redirect_url,
                "tenant": app.tenant,
                "authorizationUrl": app.authorization_url,
                "tokenUrl": app.token_url,
                "userinfoUrl": app.userinfo_url,
                "scopes": list(app.scopes) if app.scopes is not None else None,
                "imap": _host_doc(app.imap),
                "smtp": _host_doc(app.smtp),
                "created": app.created,
                "updated": app.updated,
            }
        )

    def _decode_app(self, doc: dict[str, Any]) -> OAuthApp:
        sealed = doc.get("clientSecret")
        return OAuthApp(
            id=doc["id"],
            provider=Provider(doc["provider"]),
            name=doc.get("name", ""),
            client_id=doc["clientId"],
            client_secret=Secret(self._vault.decrypt(sealed, f"oauth-app:{doc['id']}:clientSecret"))
            if sealed
            else None,
            redirect_url=doc["redirectUrl"],
            tenant=doc.get("tenant"),
            authorization_url=doc.get("authorizationUrl"),
            token_url=doc.get("tokenUrl"),
            userinfo_url=doc.get("userinfoUrl"),
            scopes=tuple(doc["scopes"]) if doc.get("scopes") is not None else None,
            imap=_host(doc.get("imap")),
            smtp=_host(doc.get("smtp")),
            created=doc.get("created", ""),
            updated=doc.get("updated", ""),
        )

    # -- pending sign-ins ----------------------------------------------------------

    @redis_errors
    def save_signin(self, nonce: str, pending: PendingSignIn) -> None:
        doc = {
            "app": pending.app,
            "account": pending.account,
            "name": pending.name,
            "redirectUrl": pending.redirect_url,
            "loginHint": pending.login_hint,
            "verifier": self._vault.encrypt(pending.verifier.reveal(), f"oauth-signin:{nonce}:verifier"),
        }
        self.redis.set(keys.oauth_signin(nonce), json.dumps(doc), ex=SIGNIN_TTL_S)

    @redis_errors
    def peek_signin(self, nonce: str) -> PendingSignIn | None:
        raw = self.redis.get(keys.oauth_signin(nonce))
        return None if raw is None else self._decode_signin(nonce, json.loads(raw))

    @redis_errors
    def take_signin(self, nonce: str) -> PendingSignIn | None:
        """Remove and return a pending sign-in: the second caller gets None (a state is single-use)."""
        raw = self.redis.getdel(keys.oauth_signin(nonce))
        return None if raw is None else self._decode_signin(nonce, json.loads(raw))

    def _decode_signin(self, nonce: str, doc: dict[str, Any]) -> PendingSignIn:
        return PendingSignIn(
            app=doc["app"],
            account=doc["account"],
            name=doc.get("name"),
            redirect_url=doc["redirectUrl"],
            login_hint=doc.get("loginHint") or "",
            verifier=Secret(self._vault.decrypt(doc["verifier"], f"oauth-signin:{nonce}:verifier")),
        )

    # -- tokens --------------------------------------------------------------------

    @redis_errors
    def tokens(self, account_id: str) -> TokenState:
        raw = {text(k): text(v) for k, v in self.redis.hgetall(keys.account_oauth(account_id)).items()}
        if not raw:
            return TokenState()

        def unseal(name: str) -> Secret | None:
            value = raw.get(name)
            return Secret(self._vault.decrypt(value, f"account:{account_id}:oauth:{name}")) if value else None

        return TokenState(
            access_token=unseal("access"),
            refresh_token=unseal("refresh"),
            expires_at=float(raw.get("expiresAt") or 0),
            issued_at=float(raw.get("issuedAt") or 0),
            generation=int(raw.get("generation") or 0),
            error=raw.get("error") or None,
        )

    @redis_errors
    def install_tokens(self, account_id: str, state: TokenState) -> None:
        """Store tokens from a new sign-in, whatever was there (clears a failed grant)."""
        self._install(keys=[keys.account_oauth(account_id)], args=self._fields(account_id, state))

    @redis_errors
    def write_tokens(self, account_id: str, owner: str, expected_generation: int, state: TokenState) -> bool:
        """Store a refresh's result if ``owner`` still holds the lock and nobody wrote since; False otherwise."""
        result = self._fenced_write(
            keys=[keys.account_oauth(account_id), keys.account_oauth_lock(account_id)],
            args=[owner, expected_generation, *self._fields(account_id, state)],
        )
        return bool(result)

    @redis_errors
    def lock(self, account_id: str, owner: str, lease_ms: int) -> bool:
        return bool(self.redis.set(keys.account_oauth_lock(account_id), owner, nx=True, px=lease_ms))

    @redis_errors
    def unlock(self, account_id: str, owner: str) -> None:
        self._release(keys=[keys.account_oauth_lock(account_id)], args=[owner])

    @redis_errors
    def locked(self, account_id: str) -> bool:
        return bool(self.redis.exists(keys.account_oauth_lock(account_id)))

    def _fields(self, account_id: str, state: TokenState) -> list[str]:
        def seal(name: str, value: Secret | None) -> str:
            return self._vault.encrypt(value.reveal(), f"account:{account_id}:oauth:{name}") if value else ""

        return [
            "access",
            seal("access", state.access_token),
            "refresh",
            seal("refresh", state.refresh_token),
            "expiresAt",
            repr(state.expires_at),
            "issuedAt",
            repr(state.issued_at),
            "error",
            state.error or "",
        ]


def _host_doc(host: MailHost | None) -> dict[str, Any] | None:
    if host is None:
        return None
    return {"host": host.host, "port": host.port, "secure": host.secure, "starttls": host.starttls}


def _host(doc: dict[str, Any] | None) -> MailHost | None:
    if not doc:
        return None
    return MailHost(doc["host"], int(doc["port"]), bool(doc["secure"]), doc.get("starttls"))
