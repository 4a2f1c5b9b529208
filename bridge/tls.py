"""TLS client contexts for IMAP and SMTP connections."""

from __future__ import annotations

import ssl
from functools import lru_cache


@lru_cache(maxsize=2)
def client_context(reject_unauthorized: bool = True) -> ssl.SSLContext:
    """A client context with the system CAs; verification off only when asked.

    Turning verification off is for self-signed test and intranet servers; the
    account setting is named after EmailEngine's ``tls.rejectUnauthorized``.

    One shared context per setting, never changed after creation (an SSLContext
    is meant to be shared by connections): each context holds its own copy of
    the parsed system CA store, ~850 KiB, which a watcher with one connection
    per account paid per account (500 IMAPS accounts: ~415 MB; bench/inbound.py).
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not reject_unauthorized:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
