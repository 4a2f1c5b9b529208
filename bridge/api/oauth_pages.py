"""The browser side of an OAuth2 sign-in: ``/oauth/start`` and ``/oauth/callback``, outside /v1.

No API token: the signed, single-use ``state`` is the credential
(``bridge.oauth.flow``). The callback attaches the account the way
``POST /v1/accounts`` does (log in to IMAP and SMTP first, then store, then
watch from now on), with the provider's hosts and the new tokens, and sends
the user to the form's redirectUrl with the outcome.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from flask import Blueprint, Response, request

from bridge.accounts import connectivity
from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.errors import BridgeError, NotFound
from bridge.models import Account, OAuthBinding, ServerConfig
from bridge.oauth import flow
from bridge.oauth.client import TokenClient, TokenSet
from bridge.oauth.presets import Endpoints, MailHost, OAuthApp
from bridge.storage import Storage
from bridge.storage.oauth import PendingSignIn

log = logging.getLogger(__name__)
bp = Blueprint("oauth_pages", __name__)
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _redirect(url: str) -> Response:
    response = Response(status=302, headers={"Location": url, **_NO_STORE})
    return response


@endpoint(
    bp, flow.START_PATH, "GET", summary="Sign-in step 1: redirect to the provider", auth=False, status=302,
    errors=(400,), description="The URL POST /v1/authentication/form returned.",
)  # fmt: skip
def start() -> Response:
    svc = services()
    return _redirect(flow.provider_url(svc.storage.oauth, svc.settings.secret.reveal(), request.args.get("state")))


@endpoint(
    bp, flow.CALLBACK_PATH, "GET", summary="Sign-in step 2: the provider's redirect back", auth=False, status=302,
    errors=(400,), description="Register <BRIDGE_PUBLIC_URL>/oauth/callback as the app's redirect URL.",
)  # fmt: skip
def callback() -> Response:
    svc = services()
    pending = flow.take(svc.storage.oauth, svc.settings.secret.reveal(), request.args.get("state"))
    if request.args.get("error"):
        return _redirect(flow.back(pending.redirect_url, account=pending.account, error=request.args["error"][:200]))
    code = request.args.get("code")
    if not code:
        return _redirect(flow.back(pending.redirect_url, account=pending.account, error="missingCode"))
    try:
        app, endpoints, tokens, address = flow.exchange(svc.storage.oauth, TokenClient(), pending, code)
        _attach(svc.storage, pending, app, endpoints, address, tokens)
    except BridgeError as exc:
        log.warning("OAuth2 sign-in of account %s failed: %s", pending.account, exc.message)
        return _redirect(flow.back(pending.redirect_url, account=pending.account, error=exc.code))
    log.info("OAuth2 sign-in attached account %s (%s)", pending.account, app.provider.value)
    return _redirect(flow.back(pending.redirect_url, account=pending.account, state="success"))


def _server(host: MailHost, user: str) -> ServerConfig:
    return ServerConfig(host=host.host, port=host.port, user=user, secure=host.secure, starttls=host.starttls)


def _attach(
    storage: Storage, pending: PendingSignIn, app: OAuthApp, endpoints: Endpoints, address: str, tokens: TokenSet
) -> None:
    """Create or update the account, after IMAP and SMTP accepted the new token.

    The check logs in with the new access token as given, before anything is
    stored: a sign-in that fails leaves an existing account and its tokens as they were.
    """
    if endpoints.imap is None:
        raise BridgeError("the OAuth2 app names no IMAP server", code="noImapServer")
    try:
        existing: Account | None = storage.accounts.get(pending.account)
    except NotFound:
        existing = None
    account = Account(
        id=pending.account,
        email=address,
        name=pending.name or (existing.name if existing else "") or address,
        imap=_server(endpoints.imap, address),
        smtp=_server(endpoints.smtp, address) if endpoints.smtp else None,
        watch=existing.watch if existing else ("INBOX",),
        backfill=existing.backfill if existing else 0,
        trusted_receivers=existing.trusted_receivers if existing else None,
        trusted_arc_sealers=existing.trusted_arc_sealers if existing else (),
        oauth=OAuthBinding(app=app.id),
    )
    result = connectivity.check_servers(
        replace(account.imap, access_token=tokens.access_token),
        replace(account.smtp, access_token=tokens.access_token) if account.smtp else None,
        account.watch,
        storage=storage,
    )
    if result.first_error is not None:
        raise result.first_error
    storage.oauth_tokens.install(account.id, tokens)
    if existing is not None:
        storage.accounts.replace(account)  # a changed document restarts its watch
        return
    storage.accounts.create(account)
    for folder, status in result.folders.items():
        storage.mailstate.set_attach_checkpoint(account.id, folder, status.uidnext - 1)
