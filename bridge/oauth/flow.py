"""The sign-in: a form URL, the redirect to the provider, and the callback's checks.

The ``state`` sent through the provider is an ``itsdangerous`` timed
signature (BRIDGE_SECRET, its own salt) over the id of a pending sign-in kept
in Redis for 10 minutes. The callback takes that record with GETDEL, so a
state works once: a replayed one finds nothing, a forged one fails the
signature, an old one fails the age check (RFC 6749 § 10.12, CSRF). The
PKCE verifier (RFC 7636) stays in that record, sealed, and never leaves the
bridge; the provider only sees its S256 challenge.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

from bridge.config import Secret
from bridge.errors import TokenRevoked, TokenUnavailable, ValidationError
from bridge.oauth import identity, pkce, presets
from bridge.oauth.client import TokenClient, TokenSet
from bridge.storage.oauth import SIGNIN_TTL_S, OAuthStore, PendingSignIn

STATE_SALT = "mailbridge.oauth-state"
START_PATH = "/oauth/start"
CALLBACK_PATH = "/oauth/callback"


def _signer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=STATE_SALT)


def read_state(secret: str, state: str | None) -> str:
    """The pending sign-in's id from a state.

    Raises:
        ValidationError: invalidState when it is missing, forged or older than the sign-in lifetime.
    """
    if not state:
        raise ValidationError("the sign-in has no state", code="invalidState")
    try:
        nonce = _signer(secret).loads(state, max_age=SIGNIN_TTL_S)
    except BadSignature as exc:  # SignatureExpired is a BadSignature too
        raise ValidationError("the sign-in state is not valid or has expired", code="invalidState") from exc
    if not isinstance(nonce, str):
        raise ValidationError("the sign-in state is not valid", code="invalidState")
    return nonce


def begin(store: OAuthStore, secret: str, public_url: str, pending: PendingSignIn) -> str:
    """Keep a pending sign-in; return the bridge URL that sends the user on to the provider.

    Raises:
        NotFound: the app does not exist.
    """
    presets.resolve(store.get_app(pending.app))  # the app must be usable before the user is sent anywhere
    nonce = pkce.new_nonce()
    store.save_signin(nonce, pending)
    return f"{public_url}{START_PATH}?{urlencode({'state': _signer(secret).dumps(nonce)})}"


def provider_url(store: OAuthStore, secret: str, state: str | None) -> str:
    """Where ``/oauth/start`` redirects: the provider's authorization URL with PKCE and the same state.

    Raises:
        ValidationError: invalidState (forged, expired or already used).
    """
    nonce = read_state(secret, state)
    pending = store.peek_signin(nonce)
    if pending is None or state is None:
        raise ValidationError("the sign-in was already used or has expired", code="invalidState")
    app = store.get_app(pending.app)
    return presets.authorization_url(
        presets.resolve(app),
        client_id=app.client_id,
        redirect_url=app.redirect_url,
        state=state,
        code_challenge=pkce.challenge(pending.verifier.reveal()),
        login_hint=pending.login_hint,
    )


def take(store: OAuthStore, secret: str, state: str | None) -> PendingSignIn:
    """The pending sign-in a callback's state names, removed so that it cannot be used again.

    Raises:
        ValidationError: invalidState (forged, expired or replayed).
    """
    pending = store.take_signin(read_state(secret, state))
    if pending is None:
        raise ValidationError("the sign-in was already used or has expired", code="invalidState")
    return pending


def exchange(
    store: OAuthStore, client: TokenClient, pending: PendingSignIn, code: str
) -> tuple[presets.OAuthApp, presets.Endpoints, TokenSet, str]:
    """Trade the code for tokens and learn who signed in: (app, endpoints, tokens, address).

    Raises:
        TokenRevoked, TokenUnavailable: the provider refused or failed.
    """
    app = store.get_app(pending.app)
    endpoints = presets.resolve(app)
    tokens = client.exchange(endpoints, app, code=code, verifier=pending.verifier.reveal())
    if tokens.refresh_token is None:
        # Without one the account would fall off when the access token expires: refuse it now.
        raise TokenRevoked(
            "the provider issued no refresh token (Google needs access_type=offline and prompt=consent, "
            "Microsoft the offline_access scope)",
            code="noRefreshToken",
        )
    address = identity.address(identity.id_token_claims(tokens.id_token)) if tokens.id_token else None
    if address is None and endpoints.userinfo_url:
        address = identity.address(client.userinfo(endpoints.userinfo_url, tokens.access_token))
    if address is None:
        raise TokenUnavailable("the provider did not say which address signed in (no email in ID token or user info)")
    return app, endpoints, tokens, address


def back(redirect_url: str, **params: str) -> str:
    """The user's landing URL with ``params`` added to its query."""
    parts = urlsplit(redirect_url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def new_pending(app: str, account: str, name: str | None, redirect_url: str, login_hint: str) -> PendingSignIn:
    return PendingSignIn(
        app=app,
        account=account,
        name=name,
        redirect_url=redirect_url,
        verifier=Secret(pkce.new_verifier()),
        login_hint=login_hint,
    )
