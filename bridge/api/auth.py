"""Bearer-token authentication for every /v1 route."""

from __future__ import annotations

from flask import g, request

from bridge.api.services import services
from bridge.errors import Unauthorized


def presented_token() -> str | None:
    """The token from ``Authorization: Bearer``, or ``?access_token=`` (WebSocket clients cannot set headers)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("access_token") or None


def require_token() -> None:
    """before_request hook: 401 unless a valid API token is presented."""
    token = presented_token()
    if token is None:
        raise Unauthorized("an API token is required: send 'Authorization: Bearer <token>'")
    token_id = services().storage.tokens.authenticate(token)
    if token_id is None:
        raise Unauthorized("the API token is not valid")
    g.token_id = token_id
