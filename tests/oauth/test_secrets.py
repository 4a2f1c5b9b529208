"""No OAuth2 token or secret in Redis in plaintext, nor in any log line, across sign-in, refresh, IMAP and SMTP."""

from __future__ import annotations

import logging
import time

from bridge.oauth import sasl
from tests.api.conftest import WatcherThread
from tests.oauth.conftest import sign_in
from tests.redis_scan import assert_nowhere
from tests.servers.oauth import CLIENT_SECRET


def test_no_token_or_secret_in_redis_or_logs(
    caplog, client, auth, storage, redis_client, live_bridge, oauth, oauth_app_body, oauth_mailbox, oauth_dovecot,
    http_receiver, dns,
):  # fmt: skip
    caplog.set_level(logging.DEBUG)  # every logger, aioimaplib's "Sending : …" lines included
    oauth.access_ttl = 2
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    sign_in(client, auth, app_id, f"{http_receiver.url}/done")
    # A pending sign-in (its PKCE verifier) is in Redis too while the user is at the provider.
    client.post(
        "/v1/authentication/form",
        json={"account": "other", "app": app_id, "redirectUrl": http_receiver.url},
        headers=auth,
    )
    time.sleep(2.1)
    watcher = WatcherThread(storage, "oauth-acct", dns.address).start()  # logs in with a refreshed token
    watcher.stop()
    assert oauth.refreshes >= 1
    secrets = [CLIENT_SECRET]
    for token in oauth.issued_tokens():
        secrets += [token.access_token, token.refresh_token or ""]
    assert len(secrets) >= 5
    assert assert_nowhere(redis_client, secrets) > 0
    # The bridge's side: everything but the test servers' own loggers (authlib, aiosmtpd's mail.log).
    ours = [r for r in caplog.records if not r.name.startswith(("authlib", "mail.log"))]
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in ours)
    assert "aioimaplib" in logged and "bridge.oauth.tokens" in logged  # the login and the refresh were logged
    # The SASL messages carry the tokens base64-encoded: those must not be logged either.
    for token in oauth.issued_tokens():
        for mechanism in sasl.Mechanism:
            for host, port in ((oauth_mailbox.host, oauth_mailbox.imap_port), ("", 0)):
                message = sasl.initial_response(mechanism, oauth_mailbox.address, token.access_token, host, port)
                secrets.append(sasl.encoded(message))
    for secret in secrets:
        assert secret not in logged
