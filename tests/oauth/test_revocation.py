"""A revoked grant: one authenticationError with the provider's reason, no retry loop, recovery on sign-in."""

from __future__ import annotations

import time

from bridge.imap.watcher import WatchTiming
from tests.api.conftest import WatcherThread
from tests.oauth.conftest import sign_in

# The watcher retries a failed login quickly here, so a retry loop would show within the test.
QUICK = WatchTiming(
    poll_interval_s=0.3, retry_base_s=0.05, retry_cap_s=0.1, auth_retry_base_s=0.05, auth_retry_cap_s=0.1
)


def _events(storage, name):
    return [e for e in storage.events.since("oauth-acct", 0, count=1000) if e.event == name]


def _wait(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_revoked_refresh_token_gives_one_error_and_recovers_on_sign_in(
    client, auth, storage, live_bridge, oauth, oauth_app_body, oauth_mailbox, oauth_dovecot, http_receiver, dns
):
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    assert "state=success" in str(sign_in(client, auth, app_id, f"{http_receiver.url}/done").url)
    watcher = WatcherThread(storage, "oauth-acct", dns.address, timing=QUICK)
    watcher.start()
    try:
        # The user removes the app's access: tokens die, the refresh token is refused.
        oauth.revoke_user(oauth_mailbox.address)
        oauth_dovecot._doveadm("kick", oauth_mailbox.address, check=False)
        _wait(lambda: storage.accounts.get_state("oauth-acct").state.value == "authenticationError")
        time.sleep(1.0)  # ~20 quick login retries by the watcher
        state = client.get("/v1/account/oauth-acct", headers=auth).json["state"]
        assert state["state"] == "authenticationError"
        assert state["error"]["code"] == "authenticationFailed" and "invalid_grant" in state["error"]["message"]
        assert len(_events(storage, "authenticationError")) == 1
        assert oauth.refused == 1  # the provider was asked once, not in a loop
        token = client.get("/v1/account/oauth-acct/oauth-token", headers=auth)
        assert token.status_code == 422 and token.json["error"]["code"] == "authenticationFailed"

        # Signing in again restores it; the watcher's next login uses the new tokens.
        assert "state=success" in str(sign_in(client, auth, app_id, f"{http_receiver.url}/done").url)
        _wait(lambda: storage.accounts.get_state("oauth-acct").state.value == "connected")
        oauth_dovecot.deliver(oauth_mailbox.address, b"From: a@example.com\r\nSubject: back\r\n\r\nx\r\n")
        assert watcher.wait_events(1, timeout=10)[0].data["subject"] == "back"
    finally:
        watcher.stop()
    assert len(_events(storage, "authenticationError")) == 1
    assert len(_events(storage, "accountConnected")) >= 2


def test_oauth_token_route_hands_out_a_current_token(client, auth, live_bridge, oauth, oauth_app_body, http_receiver):
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    sign_in(client, auth, app_id, f"{http_receiver.url}/done")
    answer = client.get("/v1/account/oauth-acct/oauth-token", headers=auth)
    assert answer.status_code == 200
    assert oauth.introspect(answer.json["accessToken"]) == (True, oauth.user)
    assert answer.json["user"] == oauth.user and answer.json["expires"].endswith("Z")
