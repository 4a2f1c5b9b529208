"""A local OAuth 2.0 authorization server (authlib) for tests.

Owns a Flask app in a werkzeug server thread on a free loopback port:

- ``/authorize`` auto-approves one fixed user (``user``) with the code flow;
  a request without an S256 PKCE challenge is refused.
- ``/token`` issues access tokens that live ``access_ttl`` seconds and
  rotating refresh tokens (each refresh token works once, as Microsoft's
  rotation makes clients treat them); ``refresh_delay`` slows refreshes down
  to widen races.
- ``/introspect`` (RFC 7662, what Dovecot's oauth2 passdb POSTs to) and
  ``introspect()`` (what the SMTP sink calls in-process) say whether a token
  is active and whose it is.
- ``/userinfo`` names the user; ``revoke_user()`` revokes every grant, so
  the next refresh gets ``invalid_grant``.

No pytest imports.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

HOST = "127.0.0.1"
CLIENT_ID = "mailbridge-test"
CLIENT_SECRET = "client-secret-0f9e8d"
SCOPE = "openid email mail"


@dataclass
class _User:
    email: str

    def get_user_id(self) -> str:
        return self.email


@dataclass
class _Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    refresh: bool = True  # False: no refresh tokens (Google without access_type=offline)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code" or (grant_type == "refresh_token" and self.refresh)


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: _User
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token:
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    user: _User
    issued_at: float
    expires_in: int
    revoked: bool = False
    refresh_used: bool = False

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> _User:
        return self.user


@dataclass
class _State:
    codes: dict[str, _Code] = field(default_factory=dict)
    by_access: dict[str, Token] = field(default_factory=dict)
    by_refresh: dict[str, Token] = field(default_factory=dict)


class OAuthServer:
    """The authorization server; ``url`` is its base URL once started."""

    def __init__(self, *, access_ttl: int = 4) -> None:
        self.access_ttl = access_ttl
        self.refresh_delay = 0.0
        self.user = "user@example.test"
        self.refreshes = 0  # successful refresh_token grants
        self.refused = 0  # refresh_token grants answered invalid_grant
        self.introspections = 0
        self._lock = threading.RLock()
        self._state = _State()
        self._clients: dict[str, _Client] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        # authlib refuses plain http unless told this is a test.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
        self._server = make_server(HOST, self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
            self._clients.clear()
            self.refreshes = self.refused = self.introspections = 0
            self.refresh_delay = 0.0
            self.access_ttl = 4

    # -- configuration and inspection --------------------------------------

    def register_client(
        self, redirect_uri: str, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET, *, refresh: bool = True
    ) -> None:
        with self._lock:
            self._clients[client_id] = _Client(client_id, secret, [redirect_uri], refresh)

    def revoke_user(self, email: str) -> None:
        """Revoke every token of a user (the user removed the app's access, or changed the password)."""
        with self._lock:
            for token in self._state.by_access.values():
                if token.user.email == email:
                    token.revoked = True

    def introspect(self, token: str) -> tuple[bool, str | None]:
        """(active, username) of an access token."""
        with self._lock:
            self.introspections += 1
            found = self._state.by_access.get(token)
            if found is None or found.revoked or found.is_expired():
                return False, None
            return True, found.user.email

    def issued_tokens(self) -> list[Token]:
        with self._lock:
            return list(self._state.by_access.values())

    # -- the app -----------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("oauth-test-server")
        server = AuthorizationServer(app, query_client=self._query_client, save_token=self._save_token)
        server.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda *a, **k: generate_token(42),
                lambda *a, **k: generate_token(48),
                lambda client, grant_type: self.access_ttl,
            ),
        )
        outer = self

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                with outer._lock:
                    outer._state.codes[code] = _Code(
                        code, req.client.client_id, req.payload.redirect_uri, req.scope, req.user,
                        data.get("code_challenge"), data.get("code_challenge_method"),
                    )  # fmt: skip

            def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
                found = outer._state.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                outer._state.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _Code) -> _User:
                return authorization_code.user

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_post", "client_secret_basic"]
            INCLUDE_NEW_REFRESH_TOKEN = True  # rotate, as Microsoft does

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                if outer.refresh_delay:
                    time.sleep(outer.refresh_delay)
                with outer._lock:
                    found = outer._state.by_refresh.get(refresh_token)
                    if found is None or found.revoked or found.refresh_used:
                        outer.refused += 1
                        return None
                    found.refresh_used = True  # claimed here, so a racing second use is refused
                    return found

            def authenticate_user(self, refresh_token: Token) -> _User:
                return refresh_token.user

            def revoke_old_credential(self, refresh_token: Token) -> None:
                with outer._lock:
                    outer.refreshes += 1

        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)

        @app.get("/authorize")
        def authorize() -> Any:
            if request.args.get("code_challenge_method") != "S256" or not request.args.get("code_challenge"):
                return jsonify({"error": "invalid_request", "error_description": "PKCE S256 required"}), 400
            user = _User(self.user)
            try:
                grant = server.get_consent_grant(end_user=user)
            except OAuth2Error as error:
                return jsonify({"error": error.error, "error_description": error.description}), 400
            return server.create_authorization_response(grant_user=user, grant=grant)

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        @app.post("/introspect")
        def introspect() -> Any:
            active, username = self.introspect(request.form.get("token", ""))
            return jsonify({"active": True, "username": username} if active else {"active": False})

        @app.get("/userinfo")
        def userinfo() -> Any:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            active, username = self.introspect(value) if scheme.lower() == "bearer" else (False, None)
            if not active:
                return jsonify({"error": "invalid_token"}), 401
            return jsonify({"sub": username, "email": username, "email_verified": True})

        return app

    def _query_client(self, client_id: str) -> _Client | None:
        return self._clients.get(client_id)

    def _save_token(self, token: dict[str, Any], req: Any) -> None:
        with self._lock:
            saved = Token(
                access_token=token["access_token"],
                refresh_token=token.get("refresh_token"),
                client_id=req.client.client_id,
                scope=token.get("scope", ""),
                user=req.user,
                issued_at=time.time(),
                expires_in=int(token["expires_in"]),
            )
            self._state.by_access[saved.access_token] = saved
            if saved.refresh_token:
                self._state.by_refresh[saved.refresh_token] = saved
