"""Outbound SMTP through the account's own server (aiosmtplib).

I/O adapter. Every aiosmtplib, socket and TLS failure is translated here into
a ``SubmissionError``: ``SubmissionAuthFailed`` (credentials refused),
``SubmissionRejected`` (5xx, permanent) or ``SubmissionDeferred`` (4xx,
network, timeout: transient). Callers never see aiosmtplib types.

``send`` submits one message on an open connection step by step (MAIL, RCPT,
then a hook, then DATA) so the caller can record "DATA started" before the
point where a crash may leave a delivered message behind. ``Pool`` keeps one
connection per account open between sends in a worker process: connect,
EHLO and AUTH cost more than the message itself on a fast server.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiosmtplib

from bridge.config import Secret
from bridge.errors import (
    BridgeError,
    SubmissionAuthFailed,
    SubmissionDeferred,
    SubmissionError,
    SubmissionRejected,
)
from bridge.models import ServerConfig
from bridge.oauth import sasl
from bridge.tls import client_context

DEFAULT_TIMEOUT = 30.0


def translate(exc: BaseException, where: str) -> SubmissionError:
    """Map an aiosmtplib or network exception to the bridge's error tree."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SubmissionAuthFailed(
            f"SMTP login failed: {exc.code} {exc.message}",
            details={"side": "smtp"},
            smtp_code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP server {where} answered {exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            return SubmissionRejected(text, details={"side": "smtp"}, smtp_code=exc.code)
        return SubmissionDeferred(text, details={"side": "smtp"}, smtp_code=exc.code)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            return SubmissionRejected(
                f"all recipients refused: {text}",
                details={"side": "smtp"},
                smtp_code=codes[0],
            )
        return SubmissionDeferred(
            f"recipients refused: {text}",
            details={"side": "smtp"},
            smtp_code=codes[0] if codes else None,
        )
    reason = str(exc) or type(exc).__name__
    return SubmissionDeferred(f"SMTP server {where} unreachable: {reason}", details={"side": "smtp"})


_ERRORS = (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError, ssl.SSLError)


async def open_connection(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> aiosmtplib.SMTP:
    """Connect, say EHLO and authenticate; the caller closes it with ``close``.

    Raises:
        SubmissionAuthFailed, SubmissionRejected, SubmissionDeferred.
    """
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        timeout=timeout,
        use_tls=config.secure,
        start_tls=False if config.secure else config.starttls,
        tls_context=client_context(config.reject_unauthorized),
    )
    try:
        await client.connect()
        if config.uses_oauth:
            await client.ehlo()
            await _oauth_login(client, config)
        elif config.password is not None:
            await client.login(config.user, config.password.reveal())
        else:
            await client.ehlo()
    except _ERRORS as exc:
        client.close()
        raise translate(exc, f"{config.host}:{config.port}") from exc
    except SubmissionError:
        client.close()
        raise
    return client


async def _oauth_login(client: aiosmtplib.SMTP, config: ServerConfig) -> None:
    """AUTH with the current OAuth 2.0 token; on a 535, once more with a refreshed one.

    OAUTHBEARER (RFC 7628) when offered, else XOAUTH2 (``bridge.oauth.sasl``).
    """
    mechanism = sasl.choose(client.server_auth_methods)
    token = await _token(config)
    try:
        await _authenticate(client, mechanism, config, token)
    except aiosmtplib.SMTPAuthenticationError:
        if config.credentials is None:
            raise
        await _authenticate(client, mechanism, config, await _token(config, rejected=token))


async def _token(config: ServerConfig, rejected: Secret | None = None) -> Secret:
    if config.credentials is None:
        if config.access_token is None:
            raise SubmissionAuthFailed("no SMTP access token configured", details={"side": "smtp"})
        return config.access_token
    try:
        return await config.credentials.access_token(rejected=rejected)
    except BridgeError as exc:  # a token error, or Redis failing under the token store
        error = SubmissionDeferred if exc.transient else SubmissionAuthFailed
        raise error(exc.message, details={"side": "smtp"}) from exc


async def _authenticate(
    client: aiosmtplib.SMTP, mechanism: sasl.Mechanism, config: ServerConfig, token: Secret
) -> None:
    if mechanism is sasl.Mechanism.XOAUTH2:
        await client.auth_xoauth2(config.user, token.reveal())
        return
    message = sasl.initial_response(mechanism, config.user, token.reveal(), config.host, config.port)
    response = await client.execute_command(b"AUTH", mechanism.value.encode(), sasl.encoded(message).encode())
    if response.code == 334:  # RFC 7628 § 3.2.3: the error challenge; answer ^A to get the final reply
        response = await client.execute_command(sasl.encoded(sasl.FAILURE_ACK[mechanism]).encode())
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


async def close(client: aiosmtplib.SMTP) -> None:
    """QUIT politely; drop the connection whatever happens (a cancellation too)."""
    transport = client.transport
    try:
        if client.is_connected:
            await client.quit()
    except _ERRORS:
        client.close()
    finally:
        # aiosmtplib closes with close(): over TLS that waits for the server's close_notify, and a worker's
        # loop closed meanwhile (SendRuntime.close) never closes the socket. Nothing is left to send.
        if isinstance(transport, asyncio.Transport):
            transport.abort()


@dataclass(frozen=True, slots=True)
class SendResult:
    """The server's answer to DATA, and recipients it refused permanently while accepting others."""

    response: str
    rejected: tuple[tuple[str, int, str], ...] = ()


async def send(
    client: aiosmtplib.SMTP,
    *,
    mail_from: str,
    recipients: tuple[str, ...],
    raw: bytes,
    before_data: Callable[[], Awaitable[None]] | None = None,
    smtputf8: bool = False,
) -> SendResult:
    """Submit one message on an open connection.

    A 4xx for any recipient defers the whole message (RSET, nothing sent), so
    a retry never duplicates mail to the recipients that were accepted. A 5xx
    for some recipients sends to the others and reports the refused ones.

    Raises:
        SubmissionRejected: MAIL, DATA or every RCPT refused with 5xx.
        SubmissionDeferred: a 4xx, a network error or a timeout.
    """
    where = f"{client.hostname}:{client.port}"
    try:
        options = []
        if not raw.isascii() and client.supports_extension("8BITMIME"):
            options.append("BODY=8BITMIME")  # RFC 6152
        if smtputf8:
            options.append("SMTPUTF8")  # RFC 6531
        await client.mail(mail_from, options=options)
        rejected: list[tuple[str, int, str]] = []
        for rcpt in recipients:
            try:
                await client.rcpt(rcpt)
            except aiosmtplib.SMTPRecipientRefused as exc:
                if exc.code < 500:
                    await client.rset()
                    raise
                rejected.append((rcpt, exc.code, exc.message))
        if len(rejected) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(code, message, rcpt) for rcpt, code, message in rejected]
            )
        if before_data is not None:
            await before_data()
        reply = await client.data(raw)
    except _ERRORS as exc:
        raise translate(exc, where) from exc
    return SendResult(response=f"{reply.code} {reply.message}", rejected=tuple(rejected))


class Pool:
    """One reusable SMTP connection per key (an account) for this process and event loop.

    A connection idle longer than ``idle_s`` is replaced: servers drop idle
    sessions (RFC 5321 § 4.5.3.2.7 lets them after 5 minutes; many are quicker).
    """

    def __init__(self, *, idle_s: float = 30.0, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.idle_s = idle_s
        self.timeout = timeout
        self._open: dict[str, tuple[ServerConfig, aiosmtplib.SMTP, float]] = {}

    async def send(
        self,
        key: str,
        config: ServerConfig,
        *,
        mail_from: str,
        recipients: tuple[str, ...],
        raw: bytes,
        before_data: Callable[[], Awaitable[None]] | None = None,
        smtputf8: bool = False,
    ) -> SendResult:
        """Send on the key's open connection, opening one when needed (see ``send``)."""
        client = await self._take(key, config)
        reused = client is not None
        if client is None:
            client = await open_connection(config, timeout=self.timeout)
        data_started = False

        async def started() -> None:
            nonlocal data_started
            data_started = True
            if before_data is not None:
                await before_data()

        try:
            result = await send(
                client, mail_from=mail_from, recipients=recipients, raw=raw, before_data=started, smtputf8=smtputf8
            )
        except SubmissionError as exc:
            await close(client)
            # A reused connection the server closed while idle fails at MAIL: nothing was sent, so
            # one more try on a fresh connection is safe (never once DATA started).
            if reused and not data_started and exc.transient and exc.smtp_code is None:
                return await self.send(
                    key,
                    config,
                    mail_from=mail_from,
                    recipients=recipients,
                    raw=raw,
                    before_data=before_data,
                    smtputf8=smtputf8,
                )
            raise
        self._open[key] = (config, client, time.monotonic())
        return result

    async def close_all(self) -> None:
        open_clients = [client for _, client, _ in self._open.values()]
        self._open.clear()
        for client in open_clients:
            await close(client)

    async def _take(self, key: str, config: ServerConfig) -> aiosmtplib.SMTP | None:
        found = self._open.pop(key, None)
        if found is None:
            return None
        old_config, client, last_used = found
        if old_config == config and client.is_connected and time.monotonic() - last_used < self.idle_s:
            return client
        await close(client)
        return None


@asynccontextmanager
async def connection(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> AsyncIterator[aiosmtplib.SMTP]:
    """An authenticated SMTP connection, closed with QUIT on exit.

    Raises:
        SubmissionAuthFailed, SubmissionRejected, SubmissionDeferred.
    """
    where = f"{config.host}:{config.port}"
    client = await open_connection(config, timeout=timeout)
    try:
        yield client
    except _ERRORS as exc:
        raise translate(exc, where) from exc
    finally:
        await close(client)


async def verify(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Check that the SMTP credentials work: connect, authenticate, QUIT."""
    async with connection(config, timeout=timeout):
        pass
