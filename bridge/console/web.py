"""The console blueprint: the session guard, CSRF, page scopes, headers, and HTML error pages.

Every console request but sign-in and the static files needs a live session
(cookie ``COOKIE``). The guard reloads the session's API token on each request:
a revoked token, or one that lost ``admin``/``manage``, is signed out at once.
Each page names the scope it needs (``page(..., scope=)``); a token without it
sees a 403 page saying which scope is missing, as the REST API would refuse it.
Every POST must carry the session's CSRF token in the form field ``csrf``;
one without it is refused with 403 before the view runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, render_template, request, url_for

from bridge.api.services import services
from bridge.errors import BridgeError, NotFound
from bridge.models import ApiToken, TokenScope
from bridge.storage.console_sessions import SESSION_TTL_S, ConsoleSession

bp = Blueprint("console", __name__, static_folder="static", static_url_path="/console/static")

COOKIE = "mb_console"
PRE_COOKIE = "mb_console_signin"  # the sign-in form's CSRF value, before any session exists
CSRF_FIELD = "csrf"
# Tokens that may sign in: the console shows every account, webhook and token.
SIGN_IN_SCOPES = (TokenScope.ADMIN, TokenScope.MANAGE)
PUBLIC_ENDPOINTS = frozenset({"console.signin", "console.static", "console.root"})

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # No inline script, nothing from other hosts; 'self' covers the same-origin WebSocket (CSP 3).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
}
SCOPES: dict[str, TokenScope] = {}


@dataclass(frozen=True, slots=True)
class Operator:
    """Who is signed in: the session (cookie value and record) and its API token."""

    session_id: str
    session: ConsoleSession
    token: ApiToken


def page(rule: str, *, scope: TokenScope, methods: tuple[str, ...] = ("GET",)) -> Callable[[Any], Any]:
    """Register a console view that needs ``scope`` (checked by the guard, like the API's ``x-scope``)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        SCOPES[f"console.{view.__name__}"] = scope
        return bp.route(rule, methods=list(methods))(view)

    return decorator


def may_sign_in(token: ApiToken) -> bool:
    return token.accounts is None and any(s in token.scopes for s in SIGN_IN_SCOPES)


def operator() -> Operator:
    found: Operator = g.console_operator
    return found


def same_origin(value: str | None) -> bool:
    """Whether an Origin header names this server (the WebSocket upgrade's guard against other sites).

    This server is the Host the request came to, or the public URL (a proxy may rewrite Host).
    """
    if not value:
        return False
    return urlsplit(value).netloc in (request.host, urlsplit(services().settings.public_url).netloc)


def see_other(location: str, status: int = 303) -> Response:
    """A redirect as ``flask.Response`` (303 after a POST: the browser follows it with a GET)."""
    return Response(status=status, headers={"Location": location})


def _signed_out() -> Response:
    target = request.full_path if request.method == "GET" and request.query_string else request.path
    return see_other(url_for("console.signin", next=target))


def _current() -> Operator | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    storage = services().storage
    session = storage.console_sessions.get(session_id)
    if session is None:
        return None
    try:
        token = storage.tokens.get(session.token_id)
    except NotFound:
        storage.console_sessions.delete(session_id)  # the token was revoked: so is the session
        return None
    if not may_sign_in(token):
        storage.console_sessions.delete(session_id)
        return None
    return Operator(session_id=session_id, session=session, token=token)


@bp.before_request
def _guard() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    found = _current()
    if found is None:
        return _signed_out()
    g.console_operator = found
    if request.method == "POST" and not hmac.compare_digest(request.form.get(CSRF_FIELD, ""), found.session.csrf):
        return error_page(
            403, "The form's security token is missing or out of date (CSRF). Reload the page and try again."
        )
    scope = SCOPES.get(request.endpoint or "")
    if scope is not None and not found.token.allows(scope):
        return error_page(403, f"Your API token lacks the {scope.value} scope this page needs.")
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.app_context_processor
def _context() -> dict[str, Any]:
    found: Operator | None = g.get("console_operator")
    return {
        "operator": found,
        "csrf_token": found.session.csrf if found else "",
        "may": (lambda scope: found is not None and found.token.allows(TokenScope(scope))),
    }


def set_session_cookie(response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE, session_id, max_age=SESSION_TTL_S, path="/", httponly=True, samesite="Strict", secure=_secure()
    )


def _secure() -> bool:
    """Secure cookies when the console is reached over HTTPS (directly or as the public URL says)."""
    return request.scheme == "https" or services().settings.public_url.startswith("https:")


def error_page(status: int, message: str, title: str | None = None) -> Response:
    html = render_template(
        "console/error.html", status=status, title=title or _TITLES.get(status, "Error"), message=message
    )
    return Response(html, status=status, mimetype="text/html")


_TITLES = {400: "Not valid", 403: "Not allowed", 404: "Not found", 409: "Conflict", 410: "Gone", 422: "Not possible"}


@bp.errorhandler(BridgeError)
def _bridge_error(exc: BridgeError) -> Response:
    # A console page answers its errors as a page, not the API's JSON body.
    return error_page(exc.status_code, exc.message)


def render(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(f"console/{template}", **context), status=status, mimetype="text/html")


def back(endpoint: str, notice: str | None = None, **values: Any) -> Response:
    """303 to a console page after a POST, with a notice code the page turns into fixed text."""
    if notice:
        values["notice"] = notice
    return see_other(url_for(endpoint, **values))
