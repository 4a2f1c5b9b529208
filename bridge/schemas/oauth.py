"""OAuth2 apps, the sign-in form and access tokens handed out to the app itself."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import ConfigDict, Field, model_validator

from bridge.config import Secret
from bridge.oauth.presets import MailHost, OAuthApp, Provider
from bridge.schemas.accounts import AccountId, Host
from bridge.schemas.common import ApiModel, HttpUrl, Matching

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$"
SCOPE_PATTERN = r"^[\x21\x23-\x5B\x5D-\x7E]+$"  # RFC 6749 § 3.3 scope-token

Url = HttpUrl
Tenant = Annotated[str, Matching(TENANT_PATTERN, "must be common, organizations, consumers, a tenant id or a domain")]
Scope = Annotated[str, Field(max_length=512), Matching(SCOPE_PATTERN, "must be a scope token (RFC 6749 § 3.3)")]


class MailHostIn(ApiModel):
    host: Host
    port: int = Field(ge=1, le=65535)
    secure: bool = Field(default=True, description="TLS from the first byte (993/465)")
    starttls: bool | None = None

    def to_host(self) -> MailHost:
        return MailHost(self.host, self.port, self.secure, self.starttls)

    @classmethod
    def of(cls, host: MailHost | None) -> MailHostIn | None:
        return None if host is None else cls(host=host.host, port=host.port, secure=host.secure, starttls=host.starttls)


class _AppFields(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    client_id: str | None = Field(default=None, min_length=1, max_length=1024)
    client_secret: str | None = Field(
        default=None, min_length=1, max_length=4096, description="Stored encrypted, never returned"
    )
    redirect_url: Url | None = Field(
        default=None, description="The callback registered with the provider: <BRIDGE_PUBLIC_URL>/oauth/callback"
    )
    tenant: Tenant | None = Field(default=None, description="Microsoft: common (default), organizations or an id")
    authorization_url: Url | None = Field(default=None, description="custom providers, or to override the preset")
    token_url: Url | None = None
    userinfo_url: Url | None = Field(default=None, description="where to learn the address when no ID token names it")
    scopes: list[Scope] | None = Field(default=None, max_length=32)
    imap: MailHostIn | None = None
    smtp: MailHostIn | None = None


class OAuthAppCreate(_AppFields):
    # What _custom_is_complete checks, said in the schema: a custom provider names its endpoints and
    # IMAP host; only Microsoft takes a tenant.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "anyOf": [
                        {"properties": {"provider": {"enum": ["google", "microsoft"]}}},
                        {
                            "required": ["authorizationUrl", "tokenUrl", "imap"],
                            "properties": {
                                "authorizationUrl": {"type": "string"},
                                "tokenUrl": {"type": "string"},
                                "imap": {"type": "object"},
                            },
                        },
                    ]
                },
                {
                    "anyOf": [
                        {"properties": {"provider": {"const": "microsoft"}}},
                        {"properties": {"tenant": {"type": "null"}}},
                    ]
                },
            ]
        }
    )

    provider: Provider
    name: str = Field(min_length=1, max_length=256)
    client_id: str = Field(min_length=1, max_length=1024)
    redirect_url: Url

    @model_validator(mode="after")
    def _custom_is_complete(self) -> Self:
        if self.provider is Provider.CUSTOM:
            missing = [
                n
                for n, v in (
                    ("authorizationUrl", self.authorization_url),
                    ("tokenUrl", self.token_url),
                    ("imap", self.imap),
                )
                if v is None
            ]
            if missing:
                raise ValueError(f"a custom provider needs {', '.join(missing)}")
        if self.tenant is not None and self.provider is not Provider.MICROSOFT:
            raise ValueError("tenant is for the microsoft provider only")
        return self

    def to_app(self) -> OAuthApp:
        return OAuthApp(
            id="",
            provider=self.provider,
            name=self.name,
            client_id=self.client_id,
            client_secret=Secret(self.client_secret) if self.client_secret else None,
            redirect_url=self.redirect_url,
            tenant=self.tenant,
            authorization_url=self.authorization_url,
            token_url=self.token_url,
            userinfo_url=self.userinfo_url,
            scopes=tuple(self.scopes) if self.scopes is not None else None,
            imap=self.imap.to_host() if self.imap else None,
            smtp=self.smtp.to_host() if self.smtp else None,
        )


class OAuthAppUpdate(_AppFields):
    """Fields to change; absent fields keep their value, an omitted clientSecret keeps the stored one."""

    def apply(self, app: OAuthApp) -> OAuthApp:
        return OAuthApp(
            id=app.id,
            provider=app.provider,
            name=self.name if self.name is not None else app.name,
            client_id=self.client_id if self.client_id is not None else app.client_id,
            client_secret=Secret(self.client_secret) if self.client_secret is not None else app.client_secret,
            redirect_url=self.redirect_url if self.redirect_url is not None else app.redirect_url,
            tenant=self.tenant if self.tenant is not None else app.tenant,
            authorization_url=self.authorization_url if self.authorization_url is not None else app.authorization_url,
            token_url=self.token_url if self.token_url is not None else app.token_url,
            userinfo_url=self.userinfo_url if self.userinfo_url is not None else app.userinfo_url,
            scopes=tuple(self.scopes) if self.scopes is not None else app.scopes,
            imap=self.imap.to_host() if self.imap is not None else app.imap,
            smtp=self.smtp.to_host() if self.smtp is not None else app.smtp,
            created=app.created,
            updated=app.updated,
        )


class OAuthAppOut(ApiModel):
    id: str
    provider: str
    name: str
    client_id: str
    has_client_secret: bool
    redirect_url: str
    tenant: str | None
    authorization_url: str | None
    token_url: str | None
    userinfo_url: str | None
    scopes: list[str] | None
    imap: MailHostIn | None
    smtp: MailHostIn | None
    created: str
    updated: str

    @classmethod
    def of(cls, app: OAuthApp) -> OAuthAppOut:
        return cls(
            id=app.id,
            provider=app.provider.value,
            name=app.name,
            client_id=app.client_id,
            has_client_secret=app.client_secret is not None,
            redirect_url=app.redirect_url,
            tenant=app.tenant,
            authorization_url=app.authorization_url,
            token_url=app.token_url,
            userinfo_url=app.userinfo_url,
            scopes=list(app.scopes) if app.scopes is not None else None,
            imap=MailHostIn.of(app.imap),
            smtp=MailHostIn.of(app.smtp),
            created=app.created,
            updated=app.updated,
        )


class OAuthAppList(ApiModel):
    apps: list[OAuthAppOut]


class AuthFormRequest(ApiModel):
    account: AccountId = Field(description="The account to create, or to update when it exists")
    name: str | None = Field(default=None, max_length=256)
    app: str = Field(min_length=1, max_length=64, description="OAuth2 app id")
    redirect_url: Url = Field(description="Where the user lands afterwards, with ?account=…&state=success or &error=…")
    email: str | None = Field(default=None, max_length=320, description="Suggested to the provider as login_hint")


class AuthFormOut(ApiModel):
    url: str = Field(description="Send the user here; valid for 10 minutes, once")


class OAuthTokenOut(ApiModel):
    account: str
    user: str
    access_token: str
    expires: str = Field(description="RFC 3339 time the token expires")
