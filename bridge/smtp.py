"""Outbound SMTP through the account's own server (aiosmtplib).

I/O adapter. Every aiosmtplib, socket and TLS failure is translated here into
a ``SubmissionError``: ``SubmissionAuthFailed`` (credentials refused),
``SubmissionRejected`` (5xx, permanent) or ``SubmissionDeferred`` (4xx,
network, timeout: transient). Callers never see aiosmtplib types.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib

from bridge.errors import (
    SubmissionAuthFailed,
    SubmissionDeferred,
    SubmissionError,
    SubmissionRejected,
)
from bridge.models import ServerConfig
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


@asynccontextmanager
async def connection(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> AsyncIterator[aiosmtplib.SMTP]:
    """An authenticated SMTP connection, closed with QUIT on exit.

    Raises:
        SubmissionAuthFailed, SubmissionRejected, SubmissionDeferred.
    """
    where = f"{config.host}:{config.port}"
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
        if config.access_token is not None:
            await client.ehlo()
            await client.auth_xoauth2(config.user, config.access_token.reveal())
        elif config.password is not None:
            await client.login(config.user, config.password.reveal())
    except _ERRORS as exc:
        client.close()
        raise translate(exc, where) from exc
    try:
        yield client
    except _ERRORS as exc:
        raise translate(exc, where) from exc
    finally:
        try:
            await client.quit()
        except _ERRORS:
            client.close()


async def verify(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Check that the SMTP credentials work: connect, authenticate, QUIT."""
    async with connection(config, timeout=timeout):
        pass
