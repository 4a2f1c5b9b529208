"""Sign-in with an API token (``admin`` or ``manage``, over every account) and sign-out.

The sign-in form has no session yet, so its CSRF value is a random cookie
(``PRE_COOKIE``, SameSite=Strict) echoed in the form (double submit): another
site cannot make a browser sign in to an attacker's token. The token itself is
checked exactly as the API checks it (``TokenStore.authenticate``) and never
kept: the session names the token's id.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Response, request, url_for

from bridge.api.services import services
from bridge.console.web import (
    COOKIE,
    CSRF_FIELD,
    PRE_COOKIE,
    bp,
    error_page,
    may_sign_in,
    operator,
    render,
    see_other,
    set_session_cookie,
)


def _safe_next(target: str | None) -> str:
    """Only a path of this console: never another host (an open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.accounts")


@bp.get("/")
def root() -> Response:
    return see_other(url_for("console.accounts"), 302)


@bp.route("/console/signin", methods=["GET", "POST"])
def signin() -> Response:
    error = None
    if request.method == "POST":
        expected = request.cookies.get(PRE_COOKIE, "")
        if not expected or not hmac.compare_digest(request.form.get(CSRF_FIELD, ""), expected):
            return error_page(403, "The sign-in form's security token is missing or out of date (CSRF). Reload it.")
        presented = request.form.get("token", "").strip()
        storage = services().storage
        token = storage.tokens.authenticate(presented) if presented else None
        if token is None:
            error = "That API token is not valid."
        elif not may_sign_in(token):
            error = "The console needs a token with the admin or manage scope over every account."
        else:
            session_id, _ = storage.console_sessions.create(token.id)
            response = see_other(_safe_next(request.form.get("next")))
            set_session_cookie(response, session_id)
            response.delete_cookie(PRE_COOKIE, path="/console/signin")
            return response
    pre = secrets.token_urlsafe(32)
    response = render("signin.html", status=401 if error else 200, error=error, pre_csrf=pre,
                      next=request.values.get("next", ""))  # fmt: skip
    response.set_cookie(PRE_COOKIE, pre, path="/console/signin", httponly=True, samesite="Strict")
    return response


@bp.post("/console/signout")
def signout() -> Response:
    services().storage.console_sessions.delete(operator().session_id)
    response = see_other(url_for("console.signin"))
    response.delete_cookie(COOKIE, path="/")
    return response
