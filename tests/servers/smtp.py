"""An in-process SMTP sink (aiosmtpd) for tests and benchmarks.

Owns an aiosmtpd Controller thread on a free loopback port, the AUTH users,
the received messages and scripted failures. No pytest imports: bench/
reuses it.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.process import free_port

HOST = "127.0.0.1"
Stage = Literal["rcpt", "data"]
# RFC 4954 § 6: the reply when a command needs AUTH first.
AUTH_REQUIRED = "530 5.7.0 Authentication required"
ACCEPTED = "250 2.0.0 Message accepted for delivery"
DEFAULT_LOGIN = "sender@example.test"
DEFAULT_PASSWORD = "sender-secret"
_DEPRECATED_LOGIN_DATA = "Session.login_data is deprecated"


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as the sink received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    auth_login: str | None
    mail_options: tuple[str, ...]
    received_at: float


@dataclass(slots=True)
class _Failure:
    status: str
    remaining: int | None  # None: until recover()


class _DropLoginDataWarning(logging.Filter):
    # aiosmtpd 1.4.6 itself sets the deprecated Session.login_data on every
    # successful AUTH and logs a warning about it; nothing a caller can change.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_DEPRECATED_LOGIN_DATA)


def _quiet_aiosmtpd() -> None:
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, _DropLoginDataWarning) for f in logger.filters):
        logger.addFilter(_DropLoginDataWarning())


class SmtpSink:
    """A recording SMTP server with AUTH PLAIN/LOGIN and scriptable 4xx/5xx.

    Without `users`, one account exists: `login` / `password`.

    AUTH is checked in MAIL FROM (`require_auth`) rather than through
    aiosmtpd's `auth_required`: that flag without TLS makes aiosmtpd emit a
    UserWarning, which pytest turns into an error inside the server thread.
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        require_auth: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        _quiet_aiosmtpd()
        self.host = HOST
        self.port = 0
        self.require_auth = require_auth
        # Implicit TLS (port-465 style) when given a server context.
        self.ssl_context = ssl_context
        self._users = dict(users) if users is not None else {DEFAULT_LOGIN: DEFAULT_PASSWORD}
        self.login, self.password = next(iter(self._users.items()), ("", ""))
        self._messages: list[ReceivedMessage] = []
        self._failures: dict[Stage, _Failure] = {}
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Listen (again). The first start picks a free port; later ones reuse it."""
        if self._controller is not None:
            return
        if self.port == 0:
            self.port = free_port()
        # A Controller closes its loop on stop(), so every start needs a new one.
        controller = Controller(
            self,
            hostname=HOST,
            port=self.port,
            ssl_context=self.ssl_context,
            # Skip socket.getfqdn(), which can block on DNS for seconds.
            server_hostname="sink.example.test",
            authenticator=self._authenticate,
            auth_require_tls=False,  # AUTH over plaintext loopback is fine in tests
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Close the listener and every open connection. Messages are kept."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    close = stop

    @property
    def running(self) -> bool:
        return self._controller is not None

    # -- configuration -----------------------------------------------------

    def add_user(self, login: str, password: str) -> None:
        with self._cond:
            self._users[login] = password

    def fail_next(self, code: int, text: str, times: int = 1, *, stage: Stage = "rcpt") -> None:
        """Answer the next `times` RCPT (or DATA) commands with ``code text``.

        Each recipient is one RCPT command, so a 2-recipient message uses up 2.
        """
        with self._cond:
            self._failures[stage] = _Failure(f"{code} {text}", times)

    def fail_always(self, code: int, text: str, *, stage: Stage = "rcpt") -> None:
        """Answer every RCPT (or DATA) with ``code text`` until `recover()`."""
        with self._cond:
            self._failures[stage] = _Failure(f"{code} {text}", None)

    def recover(self) -> None:
        """Drop every scripted failure."""
        with self._cond:
            self._failures.clear()

    def clear(self) -> None:
        """Forget received messages and scripted failures (between tests). Users stay."""
        with self._cond:
            self._messages.clear()
            self._failures.clear()

    # -- inspection --------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._messages)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `n` messages arrived; return them all.

        Raises:
            TimeoutError: fewer than `n` arrived within `timeout` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= n, timeout):
                raise TimeoutError(f"SMTP sink got {len(self._messages)} of {n} messages in {timeout} s")
            return list(self._messages)

    # -- aiosmtpd hooks (run in the controller thread) ---------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = False
        if isinstance(auth_data, LoginPassword):
            with self._cond:
                expected = self._users.get(auth_data.login.decode())
            ok = expected is not None and expected.encode() == auth_data.password
        # auth_data= is what aiosmtpd stores on session.auth_data.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.require_auth and not session.authenticated:
            return AUTH_REQUIRED
        # A handle_MAIL hook must fill the envelope itself (aiosmtpd docs).
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        failure = self._take_failure("rcpt")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self._take_failure("data")
        if failure is not None:
            return failure
        auth = session.auth_data
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=bytes(envelope.original_content or b""),
            auth_login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            mail_options=tuple(envelope.mail_options),
            received_at=time.time(),
        )
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()
        return ACCEPTED

    def _take_failure(self, stage: Stage) -> str | None:
        with self._cond:
            failure = self._failures.get(stage)
            if failure is None:
                return None
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[stage]
            return failure.status


class OAuthSmtpSink(SmtpSink):
    """An SmtpSink that also offers AUTH XOAUTH2, checking tokens with ``check``.

    ``check(token) -> (active, username)`` is the authorization server's
    introspection; the token must be active and belong to the login user.
    Failures answer as Gmail does: a 334 challenge with a JSON error, then
    535 after the client's empty (XOAUTH2) or ^A (OAUTHBEARER) response.
    """

    def __init__(self, check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._check = check
        self.oauth_logins: list[tuple[str, str, bool]] = []  # (mechanism, user, accepted)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._oauth(server, args, "XOAUTH2")

    async def _oauth(self, server: SMTP, args: list[str], mechanism: str) -> AuthResult:
        import base64

        blob = base64.b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        if not isinstance(blob, bytes):
            return AuthResult(success=False, handled=True)
        fields = dict(f.split("=", 1) for f in blob.decode().split("\x01") if "=" in f)
        user = fields.get("user", "")
        if mechanism == "OAUTHBEARER":
            gs2 = blob.decode().split("\x01", 1)[0]
            user = gs2.split("a=", 1)[1].rstrip(",") if "a=" in gs2 else ""
        token = fields.get("auth", "").removeprefix("Bearer ")
        active, owner = self._check(token)
        ok = active and owner == user
        self.oauth_logins.append((mechanism, user, ok))
        if not ok:
            await server.challenge_auth('{"status":"401","schemes":"bearer","scope":"mail"}')
            return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")
        return AuthResult(success=True, auth_data=LoginPassword(login=user.encode(), password=b""))


class OAuthBearerSmtpSink(OAuthSmtpSink):
    """An OAuthSmtpSink that offers OAUTHBEARER (RFC 7628) too."""

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._oauth(server, args, "OAUTHBEARER")
