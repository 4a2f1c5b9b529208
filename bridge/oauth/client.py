"""The provider's token and user-info endpoints over HTTP (httpx).

I/O adapter. Failures become ``TokenRevoked`` (the provider refused the
grant or the client for good: RFC 6749 § 5.2) or ``TokenUnavailable``
(network, timeout, 5xx, 429: try again later). Tokens never appear in an
error message or a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.config import Secret
from bridge.errors import TokenRevoked, TokenUnavailable
from bridge.oauth.presets import Endpoints, OAuthApp

log = logging.getLogger(__name__)

TIMEOUT_S = 15.0
# RFC 6749 § 5.2 errors that no retry will fix: the user must sign in again (or the app be fixed).
PERMANENT_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"})


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token endpoint's answer (RFC 6749 § 5.1); refresh_token None: keep the one we have."""

    access_token: Secret
    refresh_token: Secret | None
    expires_in: float
    id_token: str | None = None


class TokenClient:
    """Calls token endpoints; ``transport`` is the httpx seam (None: the network)."""

    def __init__(self, *, transport: httpx.BaseTransport | None = None, timeout: float = TIMEOUT_S) -> None:
        self._transport = transport
        self._timeout = timeout

    def exchange(self, endpoints: Endpoints, app: OAuthApp, *, code: str, verifier: str) -> TokenSet:
        """Trade an authorization code for tokens (RFC 6749 § 4.1.3, RFC 7636 § 4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": app.redirect_url,
            "code_verifier": verifier,
        }
        return self._token_request(endpoints.token_url, app, form)

    def refresh(self, endpoints: Endpoints, app: OAuthApp, refresh_token: Secret) -> TokenSet:
        """A new access token (and, with rotating providers, a new refresh token) (RFC 6749 § 6)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token.reveal()}
        if endpoints.scopes:
            form["scope"] = " ".join(endpoints.scopes)  # Microsoft needs the scopes again on refresh
        return self._token_request(endpoints.token_url, app, form)

    def userinfo(self, url: str, access_token: Secret) -> dict[str, Any]:
        """The OpenID Connect user-info document (OIDC Core § 5.3)."""
        headers = {"Authorization": f"Bearer {access_token.reveal()}", "Accept": "application/json"}
        response = self._send("GET", url, headers=headers)
        if response.status_code != 200:
            raise TokenUnavailable(f"user-info endpoint answered {response.status_code}")
        return _json(response)

    def external(self, url: str, *, account: str, user: str) -> TokenSet:
        """Ask a deployment's own token service for a current token: POST {account, user} -> {accessToken, expiresIn}."""
        response = self._send("POST", url, json={"account": account, "user": user})
        if response.status_code in (401, 403, 404):
            raise TokenRevoked(f"token URL answered {response.status_code}")
        if response.status_code != 200:
            raise TokenUnavailable(f"token URL answered {response.status_code}")
        doc = _json(response)
        token = doc.get("accessToken") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenUnavailable("token URL answered without accessToken")
        expires = doc.get("expiresIn") or doc.get("expires_in") or 300
        return TokenSet(access_token=Secret(token), refresh_token=None, expires_in=float(expires))

    def _token_request(self, url: str, app: OAuthApp, form: dict[str, str]) -> TokenSet:
        # client_secret_post (RFC 6749 § 2.3.1): what Google and Microsoft both accept.
        form = {**form, "client_id": app.client_id}
        if app.client_secret is not None:
            form["client_secret"] = app.client_secret.reveal()
        response = self._send("POST", url, data=form, headers={"Accept": "application/json"})
        if response.status_code == 200:
            return _token_set(_json(response))
        try:
            doc = response.json()
        except ValueError:
            doc = {}
        error = str(doc.get("error") or "") if isinstance(doc, dict) else ""
        description = str(doc.get("error_description") or "") if isinstance(doc, dict) else ""
        reason = f"{error}: {description}" if description else (error or f"HTTP {response.status_code}")
        if response.status_code in (400, 401) and error in PERMANENT_ERRORS:
            raise TokenRevoked(f"the provider refused the grant: {reason}", details={"error": error})
        raise TokenUnavailable(f"token endpoint failed: {reason}", details={"error": error or None})

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            with httpx.Client(transport=self._transport, timeout=self._timeout, follow_redirects=False) as client:
                return client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"cannot reach {httpx.URL(url).host}: {type(exc).__name__}") from exc


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        doc = response.json()
    except ValueError as exc:
        raise TokenUnavailable("the endpoint answered something other than JSON") from exc
    if not isinstance(doc, dict):
        raise TokenUnavailable("the endpoint answered JSON that is not an object")
    return doc


def _token_set(doc: dict[str, Any]) -> TokenSet:
    access = doc.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenUnavailable("the token endpoint answered without access_token")
    refresh = doc.get("refresh_token")
    try:
        expires_in = float(doc.get("expires_in") or 3600)  # RFC 6749 § 5.1: RECOMMENDED, so may be absent
    except (TypeError, ValueError):
        expires_in = 3600.0
    return TokenSet(
        access_token=Secret(access),
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_in=expires_in,
        id_token=doc.get("id_token") if isinstance(doc.get("id_token"), str) else None,
    )
