"""What each OAuth 2.0 provider needs: endpoints, scopes, extra parameters, IMAP/SMTP hosts.

Pure: no I/O. ``resolve(app)`` merges an app's overrides over its provider's
preset; ``authorization_url`` builds the URL the user is sent to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlencode

from bridge.config import Secret


class Provider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class MailHost:
    """Where the provider's IMAP or SMTP server listens."""

    host: str
    port: int
    secure: bool
    starttls: bool | None = None


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """An OAuth2 client registered with a provider; None fields take the preset's value.

    Attributes:
        redirect_url: the bridge's callback as registered with the provider
            (``<BRIDGE_PUBLIC_URL>/oauth/callback``).
        tenant: Microsoft only: ``common``, ``organizations``, ``consumers`` or a tenant id.
    """

    id: str
    provider: Provider
    name: str
    client_id: str
    client_secret: Secret | None
    redirect_url: str
    tenant: str | None = None
    authorization_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    scopes: tuple[str, ...] | None = None
    imap: MailHost | None = None
    smtp: MailHost | None = None
    created: str = ""
    updated: str = ""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """An app with its provider's preset filled in: everything a sign-in and a refresh need."""

    authorization_url: str
    token_url: str
    userinfo_url: str | None
    scopes: tuple[str, ...]
    extra_params: dict[str, str] = field(default_factory=dict)
    imap: MailHost | None = None
    smtp: MailHost | None = None


# Google: https://developers.google.com/identity/protocols/oauth2/web-server. Only
# access_type=offline yields a refresh token, and only prompt=consent yields one again
# for a user who already granted access. openid+email put the address in the ID token.
GOOGLE = Endpoints(
    authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",  # noqa: S106 - a URL
    userinfo_url="https://openidconnect.googleapis.com/v1/userinfo",
    scopes=("https://mail.google.com/", "openid", "email"),
    extra_params={"access_type": "offline", "prompt": "consent"},
    imap=MailHost("imap.gmail.com", 993, secure=True),
    smtp=MailHost("smtp.gmail.com", 465, secure=True),
)

# Microsoft identity platform v2.0 (learn.microsoft.com, "Authenticate an IMAP, POP or SMTP
# connection using OAuth"): offline_access yields the refresh token, and the IMAP/SMTP
# scopes live on the outlook.office.com resource. SMTP is STARTTLS on 587.
_MS_BASE = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
MICROSOFT = Endpoints(
    authorization_url=_MS_BASE + "/authorize",
    token_url=_MS_BASE + "/token",
    userinfo_url=None,  # the ID token names the user (preferred_username / email)
    scopes=(
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
        "openid",
        "email",
    ),
    imap=MailHost("outlook.office365.com", 993, secure=True),
    smtp=MailHost("smtp.office365.com", 587, secure=False, starttls=True),
)

PRESETS = {Provider.GOOGLE: GOOGLE, Provider.MICROSOFT: MICROSOFT}
DEFAULT_TENANT = "common"


def resolve(app: OAuthApp) -> Endpoints:
    """The app's endpoints: its own values where given, else its provider's preset.

    Raises:
        ValueError: a custom app lacks an authorization or token URL.
    """
    preset = PRESETS.get(app.provider)
    tenant = app.tenant or DEFAULT_TENANT
    auth_url = app.authorization_url or (preset.authorization_url.format(tenant=tenant) if preset else None)
    token_url = app.token_url or (preset.token_url.format(tenant=tenant) if preset else None)
    if not auth_url or not token_url:
        raise ValueError("a custom OAuth2 app needs authorizationUrl and tokenUrl")
    return Endpoints(
        authorization_url=auth_url,
        token_url=token_url,
        userinfo_url=app.userinfo_url or (preset.userinfo_url if preset else None),
        scopes=app.scopes if app.scopes is not None else (preset.scopes if preset else ()),
        extra_params=dict(preset.extra_params) if preset else {},
        imap=app.imap or (preset.imap if preset else None),
        smtp=app.smtp or (preset.smtp if preset else None),
    )


def authorization_url(
    endpoints: Endpoints, *, client_id: str, redirect_url: str, state: str, code_challenge: str, login_hint: str = ""
) -> str:
    """The provider's authorization URL for the code flow with PKCE (RFC 6749 § 4.1.1, RFC 7636 § 4.3)."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_url,
        "scope": " ".join(endpoints.scopes),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        **endpoints.extra_params,
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in endpoints.authorization_url else "?"
    return endpoints.authorization_url + separator + urlencode(params)
