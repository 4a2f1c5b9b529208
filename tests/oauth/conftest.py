"""OAuth2 fixtures: a local authorization server, a Dovecot whose oauth2 passdb introspects its tokens,
and an SMTP sink that checks XOAUTH2 against it.

=================  ========  ===================================================
fixture            scope     gives
=================  ========  ===================================================
oauth_server       session   OAuthServer (authlib), access tokens live 4 s
oauth              function  oauth_server, reset, with the bridge's client registered
oauth_dovecot      session   DovecotServer with passdb oauth2 -> oauth_server/introspect
oauth_mailbox      function  a fresh Dovecot user, who is the user the server signs in
oauth_smtp_sink    session   OAuthSmtpSink checking tokens with oauth_server.introspect
oauth_smtp         function  oauth_smtp_sink, listening, emptied
=================  ========  ===================================================
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from werkzeug.serving import make_server

from bridge.config import Secret, Settings
from tests.api.conftest import TEST_SECRET, app, auth, client, storage, token  # noqa: F401 - fixtures reused
from tests.servers.dovecot import DovecotServer, MailAccount
from tests.servers.oauth import CLIENT_ID, CLIENT_SECRET, SCOPE, OAuthServer
from tests.servers.process import free_port
from tests.servers.smtp import OAuthSmtpSink

CALLBACK = "http://127.0.0.1:3000/oauth/callback"


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def oauth(oauth_server: OAuthServer) -> OAuthServer:
    oauth_server.reset()
    oauth_server.register_client(CALLBACK)
    return oauth_server


@pytest.fixture(scope="session")
def oauth_dovecot(oauth_server: OAuthServer) -> Iterator[DovecotServer]:
    server = DovecotServer(oauth_introspection_url=f"{oauth_server.url}/introspect")
    server.start()
    yield server
    server.close()


@pytest.fixture
def oauth_mailbox(oauth_dovecot: DovecotServer, oauth: OAuthServer) -> MailAccount:
    oauth_dovecot.start()
    oauth_dovecot.reset()
    account = oauth_dovecot.new_account("oauth")
    oauth.user = account.address
    return account


@pytest.fixture(scope="session")
def oauth_smtp_sink(oauth_server: OAuthServer) -> Iterator[OAuthSmtpSink]:
    sink = OAuthSmtpSink(oauth_server.introspect)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def oauth_smtp(oauth_smtp_sink: OAuthSmtpSink) -> OAuthSmtpSink:
    oauth_smtp_sink.start()
    oauth_smtp_sink.clear()
    oauth_smtp_sink.oauth_logins.clear()
    return oauth_smtp_sink


def issue_tokens(server: OAuthServer, redirect_uri: str = CALLBACK) -> dict:
    """Run the code flow with PKCE against the server directly; return its token response."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri, "scope": SCOPE,
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    with httpx.Client() as http:
        answer = http.get(f"{server.url}/authorize", params=params)
        assert answer.status_code == 302, answer.text
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        token = http.post(
            f"{server.url}/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                  "code_verifier": verifier, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )  # fmt: skip
    assert token.status_code == 200, token.text
    return token.json()


# -- the bridge, live on a real port (the provider redirects a real HTTP client to it) --------


@pytest.fixture
def bridge_port() -> int:
    return free_port()


@pytest.fixture
def settings(redis_url, tmp_path, bridge_port) -> Settings:
    return Settings(
        secret=Secret(TEST_SECRET), redis_url=redis_url, data_dir=tmp_path, public_url=f"http://127.0.0.1:{bridge_port}"
    )


@pytest.fixture
def live_bridge(app, bridge_port, oauth) -> Iterator[str]:  # noqa: F811 - the reused fixture
    """The app served on bridge_port; the test provider accepts its /oauth/callback."""
    base = f"http://127.0.0.1:{bridge_port}"
    oauth.register_client(f"{base}/oauth/callback")
    server = make_server("127.0.0.1", bridge_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def oauth_app_body(oauth, oauth_mailbox, oauth_smtp, bridge_port) -> dict:
    """A custom OAuth2 app pointing at the test provider, the OAuth Dovecot and the OAuth SMTP sink."""
    return {
        "provider": "custom",
        "name": "Test IdP",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "redirectUrl": f"http://127.0.0.1:{bridge_port}/oauth/callback",
        "authorizationUrl": f"{oauth.url}/authorize",
        "tokenUrl": f"{oauth.url}/token",
        "userinfoUrl": f"{oauth.url}/userinfo",
        "scopes": SCOPE.split(),
        "imap": {"host": oauth_mailbox.host, "port": oauth_mailbox.imap_port, "secure": False, "starttls": False},
        "smtp": {"host": oauth_smtp.host, "port": oauth_smtp.port, "secure": False, "starttls": False},
    }


def sign_in(api, headers, app_id: str, landing: str, account: str = "oauth-acct") -> httpx.Response:
    """POST the form, then follow every redirect with a real HTTP client; return the last response."""
    body = {"account": account, "app": app_id, "redirectUrl": landing}
    resp = api.post("/v1/authentication/form", json=body, headers=headers)
    assert resp.status_code == 200, resp.json
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        return browser.get(resp.json["url"])


@pytest.fixture(scope="session")
def xoauth2_dovecot(oauth_server: OAuthServer) -> Iterator[DovecotServer]:
    """Like oauth_dovecot, but offering only XOAUTH2, as Outlook does."""
    server = DovecotServer(oauth_introspection_url=f"{oauth_server.url}/introspect", oauth_mechanisms="xoauth2")
    server.start()
    yield server
    server.close()
