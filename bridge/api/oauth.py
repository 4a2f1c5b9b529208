"""OAuth2 apps, the sign-in form, and access tokens for the app's own use.

Scopes (declared per route, read by the scope check once scoped API tokens
exist): ``manage`` for apps and sign-in, ``admin`` for handing out tokens.
"""

from __future__ import annotations

from flask import Blueprint

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.errors import Unprocessable
from bridge.models import TokenScope, rfc3339
from bridge.oauth import flow, presets
from bridge.schemas.common import Deleted
from bridge.schemas.oauth import (
    AuthFormOut,
    AuthFormRequest,
    OAuthAppCreate,
    OAuthAppList,
    OAuthAppOut,
    OAuthAppUpdate,
    OAuthTokenOut,
)

bp = Blueprint("oauth", __name__)
MANAGE = TokenScope.MANAGE
ADMIN = TokenScope.ADMIN


@endpoint(
    bp, "/oauth2", "POST", summary="Register an OAuth2 app (Google, Microsoft or custom)", body=OAuthAppCreate,
    response=OAuthAppOut, status=201, scope=MANAGE,
    description="The client secret is stored encrypted and never returned.",
)  # fmt: skip
def create_app(body: OAuthAppCreate) -> OAuthAppOut:
    return OAuthAppOut.of(services().storage.oauth.create_app(body.to_app()))


@endpoint(bp, "/oauth2", "GET", summary="List OAuth2 apps", response=OAuthAppList, scope=MANAGE)
def list_apps() -> OAuthAppList:
    return OAuthAppList(apps=[OAuthAppOut.of(a) for a in services().storage.oauth.list_apps()])


@endpoint(bp, "/oauth2/<app_id>", "GET", summary="Get an OAuth2 app", response=OAuthAppOut, errors=(404,), scope=MANAGE)
def get_app(app_id: str) -> OAuthAppOut:
    return OAuthAppOut.of(services().storage.oauth.get_app(app_id))


@endpoint(
    bp, "/oauth2/<app_id>", "PUT", summary="Update an OAuth2 app", body=OAuthAppUpdate, response=OAuthAppOut,
    errors=(404,), scope=MANAGE, description="Absent fields keep their value; an omitted clientSecret keeps the stored one.",
)  # fmt: skip
def update_app(app_id: str, body: OAuthAppUpdate) -> OAuthAppOut:
    store = services().storage.oauth
    updated = body.apply(store.get_app(app_id))
    try:
        presets.resolve(updated)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="invalidOAuthApp") from exc
    return OAuthAppOut.of(store.replace_app(updated))


@endpoint(
    bp, "/oauth2/<app_id>", "DELETE", summary="Delete an OAuth2 app", response=Deleted, errors=(404,), scope=MANAGE,
    description="Accounts signed in through it can no longer refresh their tokens.",
)  # fmt: skip
def delete_app(app_id: str) -> Deleted:
    services().storage.oauth.delete_app(app_id)
    return Deleted(id=app_id)


@endpoint(
    bp, "/authentication/form", "POST", summary="Start an OAuth2 sign-in for an account", body=AuthFormRequest,
    response=AuthFormOut, errors=(404,), scope=MANAGE,
    description="Send the user to the returned URL: it redirects to the provider, and the provider back to "
    "/oauth/callback, which creates or updates the account and redirects to redirectUrl?account=…&state=success "
    "(or &error=…).",
)  # fmt: skip
def form(body: AuthFormRequest) -> AuthFormOut:
    svc = services()
    pending = flow.new_pending(body.app, body.account, body.name, body.redirect_url, body.email or "")
    url = flow.begin(svc.storage.oauth, svc.settings.secret.reveal(), svc.settings.public_url, pending)
    return AuthFormOut(url=url)


@endpoint(
    bp, "/account/<account>/oauth-token", "GET", summary="A current OAuth2 access token of the account",
    response=OAuthTokenOut, errors=(404, 422), scope=ADMIN,
    description="Refreshed first when it is about to expire. For the app's own calls to the provider's APIs.",
)  # fmt: skip
def oauth_token(account: str) -> OAuthTokenOut:
    storage = services().storage
    found = storage.accounts.get(account)
    if found.oauth is None:
        raise Unprocessable(f"account {account!r} does not use OAuth2", code="notOAuthAccount")
    token, expires_at = storage.oauth_tokens.current(found.id, found.oauth, found.imap.user)
    expires = rfc3339(expires_at, "seconds")
    return OAuthTokenOut(account=found.id, user=found.imap.user, access_token=token.reveal(), expires=expires)
