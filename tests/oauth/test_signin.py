"""The sign-in flow, end to end: form URL -> provider -> callback -> an account that is watched."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.conftest import WatcherThread
from tests.oauth.conftest import sign_in


def _landing_query(response: httpx.Response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(response.url)).query).items()}


def test_sign_in_attaches_a_watched_account(
    client, auth, storage, live_bridge, oauth, oauth_app_body, oauth_mailbox, oauth_dovecot, http_receiver, dns
):
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    landed = sign_in(client, auth, app_id, f"{http_receiver.url}/done?from=test")
    assert landed.status_code == 200
    assert str(landed.url).startswith(f"{http_receiver.url}/done?")
    assert _landing_query(landed) == {"from": "test", "account": "oauth-acct", "state": "success"}

    account = client.get("/v1/account/oauth-acct", headers=auth).json
    assert account["email"] == oauth_mailbox.address
    assert account["imap"]["port"] == oauth_mailbox.imap_port and account["imap"]["auth"]["method"] == "oauth2"

    watcher = WatcherThread(storage, "oauth-acct", dns.address).start()
    try:
        oauth_dovecot.deliver(oauth_mailbox.address, b"From: a@example.com\r\nSubject: hello\r\n\r\nhi\r\n")
        events = watcher.wait_events(1)
        assert events[0].data["subject"] == "hello"
    finally:
        watcher.stop()
    # Dovecot offers both SASL mechanisms; the standard one (RFC 7628) is chosen.
    assert "method=OAUTHBEARER" in oauth_dovecot.log_path.read_text()


def test_forged_state_is_refused(client, auth, live_bridge, oauth, oauth_app_body, http_receiver):
    client.post("/v1/oauth2", json=oauth_app_body, headers=auth)
    with httpx.Client() as browser:
        forged = browser.get(f"{live_bridge}/oauth/callback", params={"code": "x", "state": "forged.state.value"})
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "invalidState"
    assert http_receiver.requests == []


def test_replayed_state_is_refused(client, auth, storage, live_bridge, oauth, oauth_app_body, http_receiver):
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    body = {"account": "replay", "app": app_id, "redirectUrl": f"{http_receiver.url}/done"}
    start = client.post("/v1/authentication/form", json=body, headers=auth).json["url"]
    with httpx.Client() as browser:
        to_provider = browser.get(start)
        to_bridge = browser.get(to_provider.headers["location"])
        callback = to_bridge.headers["location"]
        assert callback.startswith(f"{live_bridge}/oauth/callback?")
        first = browser.get(callback)
        assert first.status_code == 302 and "state=success" in first.headers["location"]
        again = browser.get(callback)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalidState"


def test_provider_error_is_passed_to_the_landing_page(client, auth, live_bridge, oauth, oauth_app_body, http_receiver):
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    body = {"account": "denied", "app": app_id, "redirectUrl": f"{http_receiver.url}/done"}
    start = client.post("/v1/authentication/form", json=body, headers=auth).json["url"]
    with httpx.Client() as browser:
        state = parse_qs(urlsplit(browser.get(start).headers["location"]).query)["state"][0]
        answer = browser.get(f"{live_bridge}/oauth/callback", params={"error": "access_denied", "state": state})
    assert answer.status_code == 302
    assert answer.headers["location"] == f"{http_receiver.url}/done?account=denied&error=access_denied"
    assert client.get("/v1/account/denied", headers=auth).status_code == 404


def test_failed_sign_in_leaves_the_account_and_its_tokens_alone(
    client, auth, storage, live_bridge, oauth, oauth_app_body, oauth_smtp, http_receiver
):
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    sign_in(client, auth, app_id, f"{http_receiver.url}/done")
    before = storage.oauth.tokens("oauth-acct")
    oauth_smtp.stop()  # the new login cannot be checked on SMTP
    try:
        landed = sign_in(client, auth, app_id, f"{http_receiver.url}/done")
    finally:
        oauth_smtp.start()
    assert _landing_query(landed) == {"account": "oauth-acct", "error": "connectFailed"}
    after = storage.oauth.tokens("oauth-acct")
    assert (after.generation, after.access_token) == (before.generation, before.access_token)


def test_sign_in_without_a_refresh_token_is_refused(client, auth, live_bridge, oauth, oauth_app_body, http_receiver):
    # An account without a refresh token would fall off when its access token expires.
    oauth.register_client(f"{live_bridge}/oauth/callback", refresh=False)
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    landed = sign_in(client, auth, app_id, f"{http_receiver.url}/done")
    assert _landing_query(landed) == {"account": "oauth-acct", "error": "noRefreshToken"}
    assert client.get("/v1/account/oauth-acct", headers=auth).status_code == 404
