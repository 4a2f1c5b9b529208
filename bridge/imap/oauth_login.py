"""IMAP AUTHENTICATE with an OAuth 2.0 token: XOAUTH2 or OAUTHBEARER (RFC 7628), as the server offers.

I/O adapter next to ``session``. The SASL messages come from the pure
``bridge.oauth.sasl``. On a refusal the token is asked for once more as
"rejected", so a token that expired early (or was revoked and re-issued) is
refreshed and tried again on the same connection (RFC 3501 § 6.2.2 allows
another AUTHENTICATE after a failed one).

aioimaplib's own ``xoauth2`` never answers the server's error challenge (the
``+ <base64 JSON>`` line of RFC 7628 § 3.2.2), so a refused token would hang
the command until its timeout; ``_SaslCommand`` answers it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aioimaplib
from aioimaplib.aioimaplib import Command, Response

from bridge.config import Secret
from bridge.errors import BridgeError, MailboxAuthFailed, MailboxUnavailable
from bridge.imap.responses import response_text
from bridge.models import ServerConfig
from bridge.oauth import sasl

_TRANSIENT_CODES = re.compile(r"\[(UNAVAILABLE|SERVERBUG|LIMIT|INUSE)\]", re.I)


class _SaslCommand(Command):  # type: ignore[misc]
    """AUTHENTICATE whose continuation (an error challenge) gets the mechanism's dummy answer."""

    def __init__(self, *args: Any, answer: bytes, transport: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answer = answer
        self._transport = transport
        self._answered = False

    def flush(self) -> None:
        if not self._answered:
            self._answered = True
            self._transport.write(sasl.encoded(self._answer).encode() + b"\r\n" if self._answer else b"\r\n")


async def authenticate(client: aioimaplib.IMAP4, config: ServerConfig) -> None:
    """Log in with the account's current token.

    Raises:
        MailboxAuthFailed: the server refused the token (and a refreshed one), or the grant is revoked.
        MailboxUnavailable: no token can be had right now, or the server is unavailable.
    """
    offered = [c.split("=", 1)[1] for c in client.protocol.capabilities if c.upper().startswith("AUTH=")]
    mechanism = sasl.choose(offered)
    token = await _token(config)
    response = await _authenticate(client, mechanism, config, token)
    if response.result != "OK" and config.credentials is not None:
        response = await _authenticate(client, mechanism, config, await _token(config, rejected=token))
    if response.result == "OK":
        return
    text = response_text(response.lines)
    if _TRANSIENT_CODES.search(text):
        raise MailboxUnavailable(f"IMAP server is unavailable: {text}", details={"side": "imap"})
    raise MailboxAuthFailed(f"IMAP login failed: {text}", details={"side": "imap"})


async def _token(config: ServerConfig, rejected: Secret | None = None) -> Secret:
    if config.credentials is None:
        if config.access_token is None:
            raise MailboxAuthFailed("no IMAP access token configured", details={"side": "imap"})
        return config.access_token
    try:
        return await config.credentials.access_token(rejected=rejected)
    except BridgeError as exc:
        # A token error, or Redis failing under the token store: the caller aborts the connection
        # on these two types only, so nothing else may escape with a socket open.
        error = MailboxUnavailable if exc.transient else MailboxAuthFailed
        raise error(exc.message, details={"side": "imap"}) from exc


async def _authenticate(
    client: aioimaplib.IMAP4, mechanism: sasl.Mechanism, config: ServerConfig, token: Secret
) -> Response:
    protocol = client.protocol
    initial = sasl.encoded(sasl.initial_response(mechanism, config.user, token.reveal(), config.host, config.port))
    command = _SaslCommand(
        "AUTHENTICATE",
        protocol.new_tag(),
        mechanism.value,
        initial,
        loop=protocol.loop,
        answer=sasl.FAILURE_ACK[mechanism],
        transport=protocol.transport,
    )
    # scrub: aioimaplib logs what it sends at DEBUG; the whole base64 blob carries the token.
    response: Response = await asyncio.wait_for(protocol.execute(command, scrub=initial), client.timeout)
    if response.result == "OK":
        protocol.state = aioimaplib.AUTH
    return response
