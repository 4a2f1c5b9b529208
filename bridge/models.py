"""Value types shared by every layer: ids, server settings, statuses.

Pure: no I/O. The API's pydantic schemas convert into these, and the IMAP and
SMTP adapters take these, so no adapter depends on the HTTP layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, Protocol

from bridge.config import Secret


class CredentialsProvider(Protocol):
    """Where an OAuth 2.0 account's current access token comes from (``bridge.oauth.tokens``).

    The IMAP and SMTP logins ask it for a token right before authenticating, so a
    connection opened at any time uses the current one.
    """

    async def access_token(self, *, rejected: Secret | None = None) -> Secret:
        """The current access token, refreshed when it is about to expire.

        Args:
            rejected: a token the server just refused; the answer is then a newer
                one (refreshing if nobody else did), never that one again.

        Raises:
            TokenError: no token can be had (TokenRevoked: permanent).
        """
        ...


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How to reach and log in to one IMAP or SMTP server.

    Attributes:
        secure: TLS from the first byte (IMAPS 993, SMTPS 465).
        starttls: True requires STARTTLS, False forbids it, None upgrades
            when the server offers it (what mail clients do).
        reject_unauthorized: verify the server certificate; turn off only
            for self-signed test servers.
        access_token: an OAuth 2.0 access token managed outside the bridge;
            when set, XOAUTH2 or OAUTHBEARER is used instead of the password.
        credentials: for OAuth 2.0 accounts, where the current access token comes
            from (attached when the account is loaded, never stored); it wins
            over ``access_token``.
    """

    host: str
    port: int
    user: str
    password: Secret | None = None
    access_token: Secret | None = None
    secure: bool = False
    starttls: bool | None = None
    reject_unauthorized: bool = True
    credentials: CredentialsProvider | None = field(default=None, compare=False, repr=False)

    @property
    def uses_oauth(self) -> bool:
        return self.credentials is not None or self.access_token is not None


class ConnectionState(StrEnum):
    """Live state of an account's IMAP connection, as the watcher reports it."""

    INIT = "init"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    AUTHENTICATION_ERROR = "authenticationError"
    CONNECT_ERROR = "connectError"
    DISCONNECTED = "disconnected"


class MailboxFault(StrEnum):
    """Why an account's IMAP connection failed or was restarted: the ``code`` of its state's error."""

    CONNECTION_REFUSED = "connectionRefused"  # nothing listens on the port
    CONNECT_TIMEOUT = "connectTimeout"  # DNS or the TCP handshake did not finish in time
    HOST_NOT_FOUND = "hostNotFound"  # the host name does not resolve
    NETWORK_ERROR = "networkError"  # any other socket error before the greeting
    TLS_FAILED = "tlsFailed"  # handshake refused, timed out or cut; certificate rejected; STARTTLS failed
    CLOSED_BEFORE_GREETING = "closedBeforeGreeting"  # accepted, then closed without a byte
    CLOSED_AFTER_GREETING = "closedAfterGreeting"  # greeted, then closed before LOGIN was sent
    GREETING_TIMEOUT = "greetingTimeout"  # accepted, then silent
    SERVER_UNAVAILABLE = "serverUnavailable"  # a BYE greeting, or LOGIN answered [UNAVAILABLE] and the like
    CLOSED_DURING_LOGIN = "closedDuringLogin"  # closed after LOGIN was sent, before its answer
    LOGIN_TIMEOUT = "loginTimeout"  # LOGIN (or STARTTLS, CAPABILITY) got no answer in time
    AUTHENTICATION_FAILED = "authenticationFailed"  # the server refused the credentials
    CONNECTION_LOST = "connectionLost"  # a working session was cut (BYE, reset, closed mid-command)
    COMMAND_TIMEOUT = "commandTimeout"  # a command of a working session got no answer in time
    SERVER_ERROR = "serverError"  # a command of a working session failed (SELECT, SEARCH, FETCH)
    STALLED = "stalled"  # the watchdog saw no sign of life for too long and restarted the watch


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One folder from IMAP LIST, with its RFC 6154 special-use flag."""

    path: str
    name: str
    delimiter: str | None
    flags: tuple[str, ...]
    special_use: str | None


@dataclass(frozen=True, slots=True)
class OAuthBinding:
    """How an OAuth 2.0 account gets its access tokens.

    Attributes:
        app: id of the OAuth2 app the user signed in through; the bridge keeps
            the refresh token and refreshes.
        token_url: for tokens managed elsewhere: the bridge asks this URL for a
            current access token whenever it needs one.
    """

    app: str | None = None
    token_url: str | None = None


# Providers that file sent mail in Sent themselves (submission through their SMTP is enough).
SELF_FILING_HOSTS = ("imap.gmail.com", "imap.googlemail.com", "smtp.gmail.com", "smtp.googlemail.com")


@dataclass(frozen=True, slots=True)
class Account:
    """An attached mailbox: where it lives and how the bridge watches it.

    Attributes:
        watch: folders the watcher follows; INBOX by default.
        backfill: on first attach, emit the newest N existing messages instead
            of starting at UIDNEXT.
        trusted_receivers: host names (a leading dot matches subdomains) whose
            Received headers the SPF check trusts; None uses provider defaults.
        trusted_arc_sealers: ARC sealing domains (subdomains included) whose
            recorded DMARC pass may verify a message that fails DMARC here
            (RFC 8617); empty, the default, turns that off.
        oauth: set for accounts that log in with OAuth 2.0 tokens the bridge obtains.
    """

    id: str
    email: str
    imap: ServerConfig
    smtp: ServerConfig | None = None
    name: str = ""
    watch: tuple[str, ...] = ("INBOX",)
    backfill: int = 0
    trusted_receivers: tuple[str, ...] | None = None
    trusted_arc_sealers: tuple[str, ...] = ()

    def sent_copy_wanted(self, requested: bool | None) -> bool:
        """Upload a copy of a sent message to the Sent folder? ``requested`` is the submit's ``copy``.

        Unless the request says, yes, except where the provider files sent mail itself (Gmail):
        there an upload would show the message twice.
        """
        if requested is not None:
            return requested
        hosts = {self.imap.host.lower().rstrip("."), (self.smtp.host if self.smtp else "").lower().rstrip(".")}
        return not any(h in SELF_FILING_HOSTS for h in hosts)

    oauth: OAuthBinding | None = None
    created: str = ""
    updated: str = ""


class TokenScope(StrEnum):
    """What an API token may do; each /v1 route declares the one scope it needs.

    ``admin`` implies every other scope (and alone covers the token routes).
    """

    READ = "read"  # messages, mailboxes, events, the stream
    SEND = "send"  # submit, the outbox, flags/move/delete
    MANAGE = "manage"  # accounts, webhooks, policy, suppressions, audit, OAuth2 apps
    REVIEW = "review"  # list/approve/reject review holds
    METRICS = "metrics"  # GET /metrics only: what a Prometheus scraper needs, nothing more
    ADMIN = "admin"  # tokens, and everything above


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token's metadata; the token itself is never stored.

    Attributes:
        scopes: what the token may do (a token stored before scopes existed is ``admin``).
        accounts: the only accounts it may act on; None for every account.
    """

    id: str
    description: str
    created: str
    last_used: str | None = None
    scopes: frozenset[TokenScope] = frozenset({TokenScope.ADMIN})
    accounts: frozenset[str] | None = None

    def allows(self, scope: TokenScope) -> bool:
        """Whether the token holds ``scope`` (``admin`` holds every scope)."""
        return TokenScope.ADMIN in self.scopes or scope in self.scopes

    def allows_account(self, account: str) -> bool:
        """Whether the token may act on ``account``."""
        return self.accounts is None or account in self.accounts


@dataclass(frozen=True, slots=True)
class AccountError:
    """What went wrong with an account's connection, and when (``at``: RFC 3339 UTC; "time" in JSON)."""

    code: MailboxFault
    message: str
    at: str


@dataclass(frozen=True, slots=True)
class AccountState:
    """The watcher's last report about an account.

    ``since`` is when it entered ``state``; ``next_retry`` (RFC 3339 UTC) when the
    watcher tries again after an error.
    """

    state: ConnectionState
    error: AccountError | None = None
    since: str | None = None
    next_retry: str | None = None

    def event_data(self) -> dict[str, object]:
        """The data of the state's event (``connectError``, ``accountConnected``, …)."""
        error = self.error
        return {
            "state": self.state.value,
            "error": {"code": error.code.value, "message": error.message, "time": error.at} if error else None,
            "nextRetry": self.next_retry,
        }


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message as UID FETCH returned it."""

    uid: int
    flags: tuple[str, ...]
    internal_date: str | None
    raw: bytes


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """What SELECT or STATUS says about a folder."""

    uidvalidity: int
    uidnext: int
    exists: int = 0


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address the account no longer sends to, and why (a hard bounce, a complaint, or by hand)."""

    address: str
    reason: str
    source: str  # "bounce", "complaint" or "manual"
    created: str
    message_id: str | None = None  # the stored bounce/complaint message that caused it


def rfc3339(moment: datetime | float, timespec: Literal["seconds", "milliseconds"] = "milliseconds") -> str:
    """The one way the bridge writes a time: RFC 3339 in UTC with a ``Z`` (``2026-01-02T03:04:05.678Z``).

    Takes an aware datetime in any zone (converted to UTC), a naive datetime
    (taken as UTC, never as the host's local time) or epoch seconds.
    """
    if isinstance(moment, datetime):
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")
