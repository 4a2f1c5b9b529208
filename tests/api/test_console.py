"""The console's session, CSRF and scope rules through the Flask test client (the browser tests drive the pages)."""

from __future__ import annotations

import re

import pytest

from bridge.models import TokenScope

PAGES = ["/console/", "/console/accounts/new", "/console/outbox", "/console/reviews", "/console/webhooks",
         "/console/audit", "/console/tokens"]  # fmt: skip


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client, token: str):
    page = client.get("/console/signin")
    return client.post("/console/signin", data={"token": token, "csrf": csrf_of(page.text), "next": ""})


@pytest.fixture
def signed_in(client, token):
    assert sign_in(client, token).status_code == 303
    return client


def test_root_leads_to_the_console_and_signed_out_pages_redirect_to_sign_in(client):
    assert client.get("/").headers["Location"] == "/console/"
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 303, path
        assert resp.headers["Location"].startswith("/console/signin?next=")
    assert client.post("/console/tokens", data={"description": "x"}).status_code == 303


def test_sign_in_sets_an_httponly_strict_cookie_and_every_page_renders(client, token, storage):
    resp = sign_in(client, token)
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/"
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("mb_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert token not in cookie  # the cookie is a session id, never the API token
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_a_wrong_token_or_a_narrow_scope_cannot_sign_in(client, storage):
    assert sign_in(client, "mb_not-a-token").status_code == 401
    _, reader = storage.tokens.create("reader", [TokenScope.READ])
    assert sign_in(client, reader).status_code == 401
    _, limited = storage.tokens.create("limited", [TokenScope.MANAGE], ["acme"])
    assert sign_in(client, limited).status_code == 401
    assert client.get("/console/").status_code == 303


def test_sign_in_without_its_csrf_value_is_refused(client, token):
    client.get("/console/signin")
    assert client.post("/console/signin", data={"token": token}).status_code == 403
    assert client.get("/console/").status_code == 303


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(signed_in, storage):
    before = len(storage.tokens.list())
    resp = signed_in.post("/console/tokens", data={"description": "sneaky", "scopes": "admin"})
    assert resp.status_code == 403 and "CSRF" in resp.text
    resp = signed_in.post("/console/tokens", data={"description": "sneaky", "scopes": "admin", "csrf": "wrong"})
    assert resp.status_code == 403
    assert len(storage.tokens.list()) == before


def test_sign_out_ends_the_session_and_revoking_the_token_ends_it_too(client, token, storage):
    sign_in(client, token)
    page = client.get("/console/")
    assert client.post("/console/signout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert client.get("/console/").status_code == 303
    sign_in(client, token)
    assert client.get("/console/").status_code == 200
    storage.tokens.revoke(storage.tokens.authenticate(token).id)
    assert client.get("/console/").status_code == 303


def test_a_manage_token_sees_which_scope_a_page_needs(client, storage):
    _, manager = storage.tokens.create("manager", [TokenScope.MANAGE])
    sign_in(client, manager)
    assert client.get("/console/").status_code == 200
    resp = client.get("/console/tokens")
    assert resp.status_code == 403 and "lacks the admin scope" in resp.text
    assert client.get("/console/reviews").status_code == 403


def test_add_account_form_shows_errors_next_to_the_fields(signed_in):
    page = signed_in.get("/console/accounts/new")
    form = {"csrf": csrf_of(page.text), "action": "add", "account": "bad id!", "email": "nope",
            "imap.host": "", "imap.port": "x", "imap.security": "tls", "imap.auth.user": "u", "imap.auth.pass": "p",
            "smtp.host": ""}  # fmt: skip
    resp = signed_in.post("/console/accounts/new", data=form)
    assert resp.status_code == 422
    for name in ("account", "email", "imap.host", "imap.port"):
        assert f'data-field="{name}"' in resp.text, name


def test_the_charts_count_this_hours_events_and_webhook_attempts(signed_in, auth, account_body, storage):
    from bridge.events.emit import emit

    def label(chart: str) -> str:
        return re.search(rf'id="{chart}"[^>]*aria-label="([^"]*)"', signed_in.get("/console/").text).group(1)

    assert label("chart-events") == "Events per minute: no data" or "total 0" in label("chart-events")
    assert signed_in.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    for n in range(3):
        emit(storage, "acme", "messageNew", {"subject": f"m{n}"})
    assert label("chart-events").endswith("total 3")
    assert label("chart-webhooks") == "Webhook attempts delivered: no data"


def test_sign_in_with_google_starts_the_oauth_flow(signed_in, auth, settings):
    assert "Register a Google or Microsoft OAuth2 app first" in signed_in.get("/console/").text
    app = signed_in.post("/v1/oauth2", headers=auth, json={
        "provider": "google", "name": "Gmail", "clientId": "id-1.apps.googleusercontent.com", "clientSecret": "s",
        "redirectUrl": f"{settings.public_url}/oauth/callback"}).json  # fmt: skip
    page = signed_in.get("/console/")
    assert f'name="app" value="{app["id"]}"' in page.text and "Sign in with Google" in page.text
    resp = signed_in.post("/console/accounts/oauth", data={"csrf": csrf_of(page.text), "app": app["id"],
                                                           "account": "sales", "email": "sales@example.com"})  # fmt: skip
    assert resp.status_code == 303
    start = resp.headers["Location"]
    assert start.startswith(f"{settings.public_url}/oauth/start?state=")
    provider = signed_in.get(start.removeprefix(settings.public_url))
    assert provider.status_code in (302, 303)
    assert provider.headers["Location"].startswith("https://accounts.google.com/")
    assert "login_hint=sales%40example.com" in provider.headers["Location"]


def test_add_a_webhook_shows_its_secret_once_and_errors_by_field(signed_in, storage):
    csrf = csrf_of(signed_in.get("/console/webhooks").text)
    bad = signed_in.post("/console/webhooks", data={"csrf": csrf, "url": "ftp://x", "account": "nobody"})
    assert bad.status_code == 422 and 'data-field="url"' in bad.text
    unknown = signed_in.post(
        "/console/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/h", "account": "nobody"}
    )
    assert unknown.status_code == 422 and 'data-field="account"' in unknown.text
    assert storage.webhooks.all() == []
    made = signed_in.post(
        "/console/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/h", "events": "messageNew"}
    )
    assert made.status_code == 201
    secret = re.search(r'id="secret-value">([^<]+)<', made.text).group(1)
    [sub] = storage.webhooks.all()
    assert secret.startswith("whsec_") and sub.events == ("messageNew",)
    assert secret not in signed_in.get("/console/webhooks").text


def test_the_console_stream_needs_the_session_cookie_and_this_origin(
    server, signed_in, auth, account_body, storage, settings
):
    import json

    import simple_websocket
    from mailbridge.client import StreamSocket

    from bridge.events.emit import emit

    assert signed_in.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    cookie = f"mb_console={signed_in.get_cookie('mb_console').value}"
    url = f"ws://{server}/console/accounts/acme/stream?since=evt_0"
    for headers in ({"Origin": "http://127.0.0.1"}, {"Cookie": cookie, "Origin": "http://evil.example"}, auth):
        with pytest.raises(simple_websocket.ConnectionError):  # no cookie, another site, a bearer token
            StreamSocket.connect(url, headers=headers)  # closes its socket when refused
    # simple_websocket sends Host without the port; a browser sends both with it. The public URL counts too.
    ws = simple_websocket.Client.connect(url, headers={"Cookie": cookie, "Origin": settings.public_url})
    ws.close()
    ws = simple_websocket.Client.connect(url, headers={"Cookie": cookie, "Origin": "http://127.0.0.1"})
    try:
        sent = emit(storage, "acme", "messageNew", {"subject": "over the console stream"})
        frame = ws.receive(timeout=10)
        assert frame is not None, "no frame"
        assert json.loads(frame) == sent.to_dict()
    finally:
        ws.close()
