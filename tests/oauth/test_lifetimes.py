"""An OAuth2 account keeps working across several access-token lifetimes: receiving and sending."""

from __future__ import annotations

import time
from dataclasses import replace

from bridge.outbound import submit as outbound
from tests.api.conftest import WatcherThread
from tests.integration.test_send import drain
from tests.oauth.conftest import sign_in
from workers.context import worker_context

TTL = 3  # seconds an access token lives
ROUNDS = 4  # each round starts after the previous round's token expired: > 3 lifetimes in all
FAST = outbound.SendPolicy(backoff_base_s=0.2, lease_s=5.0, sweep_interval_s=0.5, grace_s=0.2, smtp_timeout_s=5)


def test_mail_arrives_and_sends_across_token_lifetimes(
    client,
    auth,
    storage,
    live_bridge,
    oauth,
    oauth_app_body,
    oauth_mailbox,
    oauth_dovecot,
    oauth_smtp,
    http_receiver,
    dns,
    settings,
):
    oauth.access_ttl = TTL
    # smtp_idle_s=0: every send opens a new SMTP connection, so each one authenticates afresh.
    with worker_context(storage, settings, send_policy=replace(FAST, smtp_idle_s=0)):
        app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
        assert "state=success" in str(sign_in(client, auth, app_id, f"{http_receiver.url}/done").url)
        watcher = WatcherThread(storage, "oauth-acct", dns.address).start()
        try:
            started = time.monotonic()
            for n in range(1, ROUNDS + 1):
                time.sleep(TTL + 0.2)  # the token the last login used has expired by now
                # Drop the IMAP session: the watcher has to log in again, which needs a current token.
                oauth_dovecot._doveadm("kick", oauth_mailbox.address, check=False)
                oauth_dovecot.deliver(
                    oauth_mailbox.address, f"From: a@example.com\r\nSubject: round {n}\r\n\r\nx\r\n".encode()
                )
                assert watcher.wait_events(n, timeout=15)[-1].data["subject"] == f"round {n}"
                body = {"to": [{"address": "rcpt@example.com"}], "subject": f"sent {n}", "text": "hello"}
                assert client.post("/v1/account/oauth-acct/submit", json=body, headers=auth).status_code == 202
                drain(storage, lambda n=n: len(oauth_smtp.messages) >= n, timeout=15)
            elapsed = time.monotonic() - started
        finally:
            watcher.stop()
    assert elapsed > 3 * TTL
    assert [m.auth_login for m in oauth_smtp.messages] == [oauth_mailbox.address] * ROUNDS
    assert all(ok for _, _, ok in oauth_smtp.oauth_logins)
    assert oauth.refreshes >= 3  # refreshed, not re-issued: one sign-in only
    events = [e.event for e in storage.events.since("oauth-acct", 0, count=1000)]
    assert "authenticationError" not in events and "messageFailed" not in events
    assert storage.accounts.get_state("oauth-acct").state.value == "connected"
