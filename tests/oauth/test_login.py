"""Logging in with tokens: retry once after a refusal, OAUTHBEARER and XOAUTH2, given tokens, a token URL."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import pytest

from bridge.accounts import connectivity
from bridge.config import Secret
from bridge.errors import SubmissionAuthFailed
from bridge.models import ServerConfig
from bridge.outbound import smtp
from bridge.storage.oauth import TokenState
from tests.api.conftest import WatcherThread
from tests.oauth.conftest import issue_tokens, sign_in
from tests.servers.smtp import OAuthBearerSmtpSink


def _imap(mailbox, **auth) -> dict:
    return {
        "host": mailbox.host,
        "port": mailbox.imap_port,
        "starttls": False,
        "auth": {"user": mailbox.address, **auth},
    }


def _smtp(sink, user, **auth) -> dict:
    return {"host": sink.host, "port": sink.port, "starttls": False, "auth": {"user": user, **auth}}


@pytest.mark.parametrize("side", ["imap", "smtp"])
def test_a_refused_token_is_refreshed_and_tried_once_more(
    side, client, auth, storage, live_bridge, oauth, oauth_app_body, oauth_mailbox, oauth_smtp, http_receiver
):
    # The provider ends tokens before the expiry it announced (a password change does that):
    # the server refuses the stored token, the bridge refreshes and logs in on the second try.
    oauth.access_ttl = 1
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    sign_in(client, auth, app_id, f"{http_receiver.url}/done")
    stored = storage.oauth.tokens("oauth-acct")
    storage.oauth.install_tokens(
        "oauth-acct", TokenState(stored.access_token, stored.refresh_token, time.time() + 3600, time.time())
    )
    time.sleep(1.1)
    account = storage.accounts.get("oauth-acct")
    result = connectivity.check_servers(
        account.imap if side == "imap" else None, account.smtp if side == "smtp" else None
    )
    assert result.first_error is None
    assert oauth.refreshes == 1
    if side == "smtp":
        assert [ok for _, _, ok in oauth_smtp.oauth_logins][-2:] == [False, True]


def test_given_access_token_works_as_before_and_a_bad_one_fails_fast(client, auth, oauth, oauth_mailbox, oauth_smtp):
    token = issue_tokens(oauth)["access_token"]
    body = {
        "account": "given", "email": oauth_mailbox.address,
        "imap": _imap(oauth_mailbox, accessToken=token), "smtp": _smtp(oauth_smtp, oauth_mailbox.address, accessToken=token),
    }  # fmt: skip
    created = client.post("/v1/accounts", json=body, headers=auth)
    assert created.status_code == 201, created.json
    assert created.json["imap"]["auth"]["method"] == "xoauth2"
    # A refused token is answered (RFC 7628 § 3.2.3) and reported, not left hanging until a timeout.
    body = {**body, "account": "bad", "imap": _imap(oauth_mailbox, accessToken="not-a-token")}
    refused = client.post("/v1/accounts", json=body, headers=auth)
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "authenticationFailed"
    assert refused.json["error"]["details"] == {"side": "imap"}


def test_smtp_uses_oauthbearer_when_offered(oauth, oauth_mailbox):
    sink = OAuthBearerSmtpSink(oauth.introspect)
    sink.start()
    try:
        token = Secret(issue_tokens(oauth)["access_token"])
        config = ServerConfig(
            host=sink.host, port=sink.port, user=oauth_mailbox.address, access_token=token, starttls=False
        )
        asyncio.run(smtp.verify(config, timeout=5))
        bad = ServerConfig(
            host=sink.host, port=sink.port, user=oauth_mailbox.address, access_token=Secret("x"), starttls=False
        )
        with pytest.raises(SubmissionAuthFailed, match="535"):
            asyncio.run(smtp.verify(bad, timeout=5))
    finally:
        sink.stop()
    assert [(m, ok) for m, _, ok in sink.oauth_logins] == [("OAUTHBEARER", True), ("OAUTHBEARER", False)]


def test_token_url_supplies_tokens_for_externally_managed_accounts(
    client, auth, oauth, oauth_mailbox, oauth_smtp, http_receiver
):
    token = issue_tokens(oauth)["access_token"]
    http_receiver.respond_always(200, json.dumps({"accessToken": token, "expiresIn": 3600}).encode())
    body = {
        "account": "external", "email": oauth_mailbox.address,
        "imap": _imap(oauth_mailbox), "smtp": _smtp(oauth_smtp, oauth_mailbox.address),
        "oauth2": {"tokenUrl": f"{http_receiver.url}/token-for"},
    }  # fmt: skip
    created = client.post("/v1/accounts", json=body, headers=auth)
    assert created.status_code == 201, created.json
    assert created.json["oauth2"] == {"app": None, "tokenUrl": f"{http_receiver.url}/token-for"}
    asked = http_receiver.requests[0]
    assert asked.method == "POST" and asked.json() == {"account": "external", "user": oauth_mailbox.address}
    handed = client.get("/v1/account/external/oauth-token", headers=auth).json
    assert handed["accessToken"] == token
    assert len(http_receiver.requests) == 1  # cached until it nears expiry


def test_live_api_commands_use_a_current_token(
    client, auth, storage, dns, live_bridge, oauth, oauth_app_body, http_receiver
):
    oauth.access_ttl = 1
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    sign_in(client, auth, app_id, f"{http_receiver.url}/done")
    # Mailbox commands run in the watcher holding the account, on a command connection it opens on demand.
    watcher = WatcherThread(storage, "oauth-acct", dns.address).start()
    try:
        time.sleep(1.1)  # the token the IDLE connection logged in with has expired
        refreshed = oauth.refreshes
        listed = client.get("/v1/account/oauth-acct/mailboxes", headers=auth)
        assert listed.status_code == 200, listed.json
        assert "INBOX" in [m["path"] for m in listed.json["mailboxes"]]
        assert oauth.refreshes == refreshed + 1  # the command connection logged in with a fresh token
    finally:
        watcher.stop()


def test_imap_falls_back_to_xoauth2_when_oauthbearer_is_not_offered(oauth, xoauth2_dovecot):
    xoauth2_dovecot.start()
    xoauth2_dovecot.reset()
    mailbox = xoauth2_dovecot.new_account("outlook")
    oauth.user = mailbox.address
    token = Secret(issue_tokens(oauth)["access_token"])
    config = ServerConfig(
        host=mailbox.host, port=mailbox.imap_port, user=mailbox.address, access_token=token, starttls=False
    )
    assert connectivity.check_servers(config, None).first_error is None
    refused = connectivity.check_servers(replace(config, access_token=Secret("expired-or-forged")), None).imap
    assert refused is not None and refused.code == "authenticationFailed"
    log = xoauth2_dovecot.log_path.read_text()
    assert "method=XOAUTH2" in log and "OAUTHBEARER" not in log
