"""Bearer-token authentication for every /v1 route.

Tokens travel in the ``Authorization`` header only: a URL ends up in access
logs, proxy logs, browser history and Referer headers, and a URL that carries
a token is enough to act on the API. The one exception is the WebSocket
stream, whose browser clients cannot set headers on the upgrade request
(WHATWG WebSocket API); there ``?access_token=`` is accepted too.
"""

from __future__ import annotations

from flask import g, request

from bridge.api.services import services
from bridge.errors import Unauthorized

QUERY_TOKEN = "access_token"  # noqa: S105 - a parameter name, not a secret
# Endpoints that also take the token from the query string (WebSocket upgrades).
QUERY_TOKEN_ENDPOINTS = frozenset({"v1.stream.stream"})


def presented_token() -> str | None:
    """The token from ``Authorization: Bearer``, or ``?access_token=`` on the WebSocket stream.

    Raises:
        Unauthorized: a token in the query string of any other route.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    in_query = request.args.get(QUERY_TOKEN)
    if in_query is not None and request.endpoint not in QUERY_TOKEN_ENDPOINTS:
        raise Unauthorized(
            "send the API token in the 'Authorization: Bearer <token>' header; "
            "?access_token= is accepted only on the WebSocket stream",
            code="tokenInQuery",
        )
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return in_query or None


def require_token() -> None:
    """before_request hook: 401 unless a valid API token is presented."""
    token = presented_token()
    if token is None:
        raise Unauthorized("an API token is required: send 'Authorization: Bearer <token>'")
    token_id = services().storage.tokens.authenticate(token)
    if token_id is None:
        raise Unauthorized("the API token is not valid")
    g.token_id = token_id
