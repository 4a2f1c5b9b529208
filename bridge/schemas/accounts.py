"""Account resources: attach, update, verify, list mailboxes."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from bridge.config import Secret
from bridge.models import Account, AccountState, Mailbox, OAuthBinding, ServerConfig
from bridge.schemas.common import INTEGRAL, ApiModel, EmailAddress, HttpUrl, Matching
from bridge.senderauth.dmarc import is_public_suffix

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# A host name (labels of letters, digits, '-' and '_', RFC 1123 § 2.1 plus SRV-style underscores) or an
# IP literal: IPv4 matches the labels, IPv6 is hex digits, ':' and '.'. The pattern is the validation,
# so the schema says exactly what is refused.
HOST_PATTERN = (
    r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?"
    r"|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$"
)
# IMAP mailbox names (RFC 3501 § 5.1): no CR, LF or NUL, which would break the command line.
FOLDER_PATTERN = r"^[^\r\n\x00]+$"

Host = Annotated[
    str, Field(min_length=1, max_length=253), Matching(HOST_PATTERN, "'{value}' is not a host name or an IP address")
]
Folder = Annotated[
    str,
    Field(min_length=1, max_length=512),
    Matching(FOLDER_PATTERN, "must be a folder name without CR, LF or NUL"),
]
# A domain of at least two labels whose last label is not numeric (not an IP address).
SEALER_PATTERN = (
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
)


def _check_sealer(value: str) -> str:
    name = value.rstrip(".").lower()
    if is_public_suffix(name):  # trusting "com" or "co.uk" would trust every sealer under it
        raise ValueError("must not be a public suffix")
    return name


ArcSealer = Annotated[
    str,
    Field(min_length=1, max_length=253),
    Matching(SEALER_PATTERN, "'{value}' is not a domain name such as google.com"),
    AfterValidator(_check_sealer),
]


AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]


class ServerAuthIn(ApiModel):
    user: str = Field(min_length=1, max_length=512)
    password: str | None = Field(default=None, alias="pass", min_length=1, max_length=1024)
    access_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=8192,
        description="OAuth 2.0 access token (XOAUTH2)",
    )


class OAuth2In(ApiModel):
    token_url: HttpUrl = Field(
        description="For tokens managed outside the bridge: it POSTs {account, user} here whenever it needs a token "
        "and expects {accessToken, expiresIn}"
    )

    def to_binding(self) -> OAuthBinding:
        return OAuthBinding(token_url=self.token_url)


class TlsIn(ApiModel):
    reject_unauthorized: bool = Field(default=True, description="Verify the server certificate")


class ServerIn(ApiModel):
    host: Host
    port: Annotated[int, Field(ge=1, le=65535), INTEGRAL]
    secure: bool = Field(default=False, description="TLS from the first byte (993/465)")
    starttls: bool | None = Field(
        default=None,
        description="true requires STARTTLS, false forbids it, null upgrades when offered",
    )
    auth: ServerAuthIn
    tls: TlsIn = TlsIn()

    def to_config(self, keep: ServerConfig | None = None) -> ServerConfig:
        """Build the adapter config; a missing password keeps the stored one."""
        password = Secret(self.auth.password) if self.auth.password else None
        token = Secret(self.auth.access_token) if self.auth.access_token else None
        if password is None and token is None and keep is not None and keep.user == self.auth.user:
            password, token = keep.password, keep.access_token
        return ServerConfig(
            host=self.host,
            port=self.port,
            user=self.auth.user,
            password=password,
            access_token=token,
            secure=self.secure,
            starttls=self.starttls,
            reject_unauthorized=self.tls.reject_unauthorized,
        )


class _AccountFields(ApiModel):
    name: str | None = Field(default=None, max_length=256)
    email: EmailAddress | None = None
    imap: ServerIn | None = None
    smtp: ServerIn | None = None
    watch: list[Folder] | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Folders to watch; default INBOX plus the \\Junk folder when the server has one",
    )
    backfill: Annotated[int, Field(ge=0, le=10_000), INTEGRAL] | None = None
    trusted_receivers: list[Host] | None = Field(default=None, max_length=64)
    trusted_arc_sealers: list[ArcSealer] | None = Field(
        default=None,
        max_length=64,
        description="ARC sealing domains (each covers its subdomains) whose recorded DMARC pass verifies a "
        "message that fails DMARC only because a forwarder or list changed it; empty (the default) turns it off",
    )
    oauth2: OAuth2In | None = Field(
        default=None, description="Get access tokens from a token URL (sign-in accounts get this from the OAuth2 flow)"
    )
    verify: bool = Field(default=True, description="Log in to IMAP and SMTP before saving")


# A new account's servers need a secret: pass or accessToken (AccountCreate._credentials_given).
_HAS_SECRET: JsonDict = {
    "properties": {
        "auth": {
            "anyOf": [
                {"required": ["pass"], "properties": {"pass": {"type": "string"}}},
                {"required": ["accessToken"], "properties": {"accessToken": {"type": "string"}}},
            ]
        }
    }
}


class AccountCreate(_AccountFields):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {"properties": {"imap": _HAS_SECRET}},
                {"properties": {"smtp": {"anyOf": [{"type": "null"}, _HAS_SECRET]}}},
            ]
        }
    )

    account: AccountId
    email: EmailAddress
    imap: ServerIn

    @model_validator(mode="after")
    def _credentials_given(self) -> Self:
        for side, server in (("imap", self.imap), ("smtp", self.smtp)):
            if server is not None and not (server.auth.password or server.auth.access_token or self.oauth2):
                raise ValueError(f"{side}.auth needs pass or accessToken (or oauth2.tokenUrl)")
        return self

    def to_account(self) -> Account:
        return Account(
            id=self.account,
            email=self.email,
            name=self.name or "",
            imap=self.imap.to_config(),
            smtp=self.smtp.to_config() if self.smtp else None,
            watch=tuple(self.watch or ("INBOX",)),
            backfill=self.backfill or 0,
            trusted_receivers=tuple(h.lower() for h in self.trusted_receivers)
            if self.trusted_receivers is not None
            else None,
            trusted_arc_sealers=tuple(dict.fromkeys(self.trusted_arc_sealers or ())),
            oauth=self.oauth2.to_binding() if self.oauth2 else None,
        )


class AccountUpdate(_AccountFields):
    """Fields to change; absent fields keep their value. An omitted pass keeps the stored one."""


class VerifyRequest(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["imap"], "properties": {"imap": {"type": "object"}}},
                {"required": ["smtp"], "properties": {"smtp": {"type": "object"}}},
            ]
        }
    )

    imap: ServerIn | None = None
    smtp: ServerIn | None = None

    @model_validator(mode="after")
    def _something_to_check(self) -> Self:
        if self.imap is None and self.smtp is None:
            raise ValueError("give imap, smtp or both")
        return self


class SideResult(ApiModel):
    success: bool
    code: str | None = None
    error: str | None = None


class VerifyResult(ApiModel):
    imap: SideResult | None = None
    smtp: SideResult | None = None


class ServerAuthOut(ApiModel):
    user: str
    method: str = Field(description="password, xoauth2 (a given access token) or oauth2 (tokens the bridge refreshes)")


class ServerOut(ApiModel):
    host: str
    port: int
    secure: bool
    starttls: bool | None
    auth: ServerAuthOut
    tls: TlsIn

    @classmethod
    def of(cls, server: ServerConfig) -> ServerOut:
        method = "oauth2" if server.credentials is not None else "xoauth2" if server.access_token else "password"
        return cls(
            host=server.host,
            port=server.port,
            secure=server.secure,
            starttls=server.starttls,
            auth=ServerAuthOut(user=server.user, method=method),
            tls=TlsIn(reject_unauthorized=server.reject_unauthorized),
        )


class StateErrorOut(ApiModel):
    code: str = Field(description="closedBeforeGreeting, greetingTimeout, tlsFailed, authenticationFailed, …")
    message: str
    time: str


class StateOut(ApiModel):
    state: str
    error: StateErrorOut | None = None
    since: str | None = None
    next_retry: str | None = None


class OAuthBindingOut(ApiModel):
    app: str | None = Field(description="The OAuth2 app the user signed in through")
    token_url: str | None = Field(description="The deployment's own token service, for tokens managed elsewhere")


class AccountOut(ApiModel):
    account: str
    name: str
    email: str
    imap: ServerOut
    smtp: ServerOut | None
    watch: list[str]
    backfill: int
    trusted_receivers: list[str] | None
    trusted_arc_sealers: list[str]
    oauth2: OAuthBindingOut | None = None
    state: StateOut
    created: str
    updated: str

    @classmethod
    def of(cls, account: Account, state: AccountState) -> AccountOut:
        return cls(
            account=account.id,
            name=account.name,
            email=account.email,
            imap=ServerOut.of(account.imap),
            smtp=ServerOut.of(account.smtp) if account.smtp else None,
            watch=list(account.watch),
            backfill=account.backfill,
            trusted_receivers=list(account.trusted_receivers) if account.trusted_receivers is not None else None,
            trusted_arc_sealers=list(account.trusted_arc_sealers),
            oauth2=OAuthBindingOut(app=account.oauth.app, token_url=account.oauth.token_url) if account.oauth else None,
            state=StateOut(
                state=state.state.value,
                error=StateErrorOut(code=state.error.code, message=state.error.message, time=state.error.at)
                if state.error
                else None,
                since=state.since,
                next_retry=state.next_retry,
            ),
            created=account.created,
            updated=account.updated,
        )


class AccountList(ApiModel):
    accounts: list[AccountOut]


class MailboxOut(ApiModel):
    path: str
    name: str
    delimiter: str | None
    flags: list[str]
    special_use: str | None

    @classmethod
    def of(cls, mailbox: Mailbox) -> MailboxOut:
        return cls(
            path=mailbox.path,
            name=mailbox.name,
            delimiter=mailbox.delimiter,
            flags=list(mailbox.flags),
            special_use=mailbox.special_use,
        )


class MailboxList(ApiModel):
    mailboxes: list[MailboxOut]
