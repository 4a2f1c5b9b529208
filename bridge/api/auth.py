"""Bearer-token authentication and the scope check for every /v1 route (the one place both happen).

Tokens travel in the ``Authorization`` header only: a URL ends up in access
logs, proxy logs, browser history and Referer headers, and a URL that carries
a token is enough to act on the API. The one exception is the WebSocket
stream, whose browser clients cannot set headers on the upgrade request
(WHATWG WebSocket API); there ``?access_token=`` is accepted too.

Each route declares the scope it needs (``endpoint(..., scope=)``, published as
``x-scope``); a route that declares none needs ``admin`` (fail closed). A token
lacking the scope gets 403 ``insufficientScope``. A token limited to some
accounts gets, on a route of any other account, the same 404
``accountNotFound`` as an account that does not exist, so it cannot learn which
accounts exist. Listings that span accounts and can be cut to the token's own (the account list,
review holds) answer only those; a review hold of another account is ``reviewNotFound``. Other
routes that span accounts (webhooks, the outbox, ``verifyAccount``, creating an account, OAuth2
apps, tokens) are refused with 403 ``accountRestricted``.
"""

from __future__ import annotations

from flask import current_app, g, request

from bridge.api.services import services
from bridge.errors import Forbidden, NotFound, Unauthorized
from bridge.models import ApiToken, TokenScope

QUERY_TOKEN = "access_token"  # noqa: S105 - a parameter name, not a secret
# Endpoints that also take the token from the query string (WebSocket upgrades).
QUERY_TOKEN_ENDPOINTS = frozenset({"v1.stream.stream"})
# Routes without <account> that show a token limited to some accounts only those (the view filters
# with visible()/may_see()), instead of refusing it.
FILTERED_ENDPOINTS = frozenset(
    {
        "v1.accounts.list_all",
        "v1.reviews.list_pending",
        "v1.reviews.get",
        "v1.reviews.approve",
        "v1.reviews.reject",
    }
)


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


def required_scope() -> TokenScope:
    """The scope the current route declares; ``admin`` when it declares none."""
    view = current_app.view_functions.get(request.endpoint or "")
    op = getattr(view, "__openapi__", None)
    scope = getattr(op, "scope", None)
    return scope if isinstance(scope, TokenScope) else TokenScope.ADMIN


def check_access(token: ApiToken, scope: TokenScope, account: str | None, *, filtered: bool = False) -> None:
    """Raise unless ``token`` may use a route that needs ``scope`` (on ``account``, when it names one).

    Raises:
        Forbidden: the scope is missing (``insufficientScope``), or a route that
            spans accounts was called with a token limited to some (``accountRestricted``).
        NotFound: the route's account is outside the token's accounts (as for an unknown account).
    """
    if not token.allows(scope):
        raise Forbidden(
            f"this API token lacks the {scope.value!r} scope this route needs",
            details={"required": scope.value, "granted": sorted(s.value for s in token.scopes)},
        )
    if token.accounts is None:
        return
    if account is None:
        if filtered:
            return
        raise Forbidden(
            "this API token is limited to some accounts; this route spans every account",
            code="accountRestricted",
            details={"accounts": sorted(token.accounts)},
        )
    if not token.allows_account(account):
        raise NotFound(f"no account {account!r}", code="accountNotFound")


def require_token() -> None:
    """before_request hook: 401 without a valid API token, 403/404 when it may not use this route."""
    token = presented_token()
    if token is None:
        raise Unauthorized("an API token is required: send 'Authorization: Bearer <token>'")
    found = services().storage.tokens.authenticate(token)
    if found is None:
        raise Unauthorized("the API token is not valid")
    g.token_id = found.id
    g.token = found
    account = (request.view_args or {}).get("account")
    check_access(
        found,
        required_scope(),
        account if isinstance(account, str) else None,
        filtered=request.endpoint in FILTERED_ENDPOINTS,
    )


def visible() -> frozenset[str] | None:
    """The accounts the request's token is limited to; None for every account."""
    token: ApiToken = g.token
    return token.accounts


def may_see(account: str) -> bool:
    """Whether the request's token may act on ``account``."""
    token: ApiToken = g.token
    return token.allows_account(account)
