"""The OAuth2 test servers themselves: Dovecot and the SMTP sink really refuse expired and revoked tokens."""

from __future__ import annotations

import imaplib
import smtplib
import time

import httpx
import pytest

from tests.oauth.conftest import issue_tokens
from tests.servers.oauth import CLIENT_ID, CLIENT_SECRET


def _imap_xoauth2(mailbox, user: str, token: str) -> None:
    with imaplib.IMAP4(mailbox.host, mailbox.imap_port) as imap:
        imap.authenticate("XOAUTH2", lambda _: f"user={user}\x01auth=Bearer {token}\x01\x01".encode())


def test_dovecot_accepts_a_live_token_and_refuses_it_once_expired(oauth, oauth_mailbox):
    oauth.access_ttl = 2
    token = issue_tokens(oauth)["access_token"]
    _imap_xoauth2(oauth_mailbox, oauth_mailbox.address, token)
    with pytest.raises(imaplib.IMAP4.error):
        _imap_xoauth2(oauth_mailbox, "someone-else@example.test", token)
    time.sleep(2.1)
    with pytest.raises(imaplib.IMAP4.error):
        _imap_xoauth2(oauth_mailbox, oauth_mailbox.address, token)


def test_refresh_tokens_rotate_and_work_once(oauth, oauth_mailbox):
    first = issue_tokens(oauth)

    def refresh(token: str) -> httpx.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        return httpx.post(f"{oauth.url}/token", data=form)

    second = refresh(first["refresh_token"])
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    reused = refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    oauth.revoke_user(oauth_mailbox.address)
    assert refresh(second.json()["refresh_token"]).json()["error"] == "invalid_grant"
    assert oauth.refreshes == 1


def test_smtp_sink_checks_xoauth2(oauth, oauth_mailbox, oauth_smtp):
    token = issue_tokens(oauth)["access_token"]
    with smtplib.SMTP(oauth_smtp.host, oauth_smtp.port) as smtp:
        smtp.ehlo()
        code, _ = smtp.docmd("AUTH", "XOAUTH2 " + _b64(f"user={oauth_mailbox.address}\x01auth=Bearer {token}\x01\x01"))
        assert code == 235
    with smtplib.SMTP(oauth_smtp.host, oauth_smtp.port) as smtp:
        smtp.ehlo()
        code, _ = smtp.docmd("AUTH", "XOAUTH2 " + _b64(f"user={oauth_mailbox.address}\x01auth=Bearer nope\x01\x01"))
        assert code == 334
        code, _ = smtp.docmd("")
        assert code == 535


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
