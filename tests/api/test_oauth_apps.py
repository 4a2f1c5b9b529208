"""OAuth2 apps: CRUD with the client secret sealed, presets checked by the authorization URL they produce."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.oauth import pkce
from bridge.oauth.flow import read_state

GOOGLE = {
    "provider": "google",
    "name": "Gmail",
    "clientId": "123.apps.googleusercontent.com",
    "clientSecret": "google-client-secret-XYZ",
    "redirectUrl": "https://bridge.example.com/oauth/callback",
}
MICROSOFT = {
    "provider": "microsoft",
    "name": "Outlook",
    "clientId": "0f0e-app",
    "clientSecret": "ms-client-secret-ABC",
    "redirectUrl": "https://bridge.example.com/oauth/callback",
    "tenant": "organizations",
}


def _provider_query(client, auth, app_id, **form):
    body = {"account": "me", "app": app_id, "redirectUrl": "https://app.example.com/done", **form}
    resp = client.post("/v1/authentication/form", json=body, headers=auth)
    assert resp.status_code == 200, resp.json
    start = resp.json["url"]
    assert start.startswith("http://127.0.0.1:3000/oauth/start?state=")
    redirect = client.get(start.removeprefix("http://127.0.0.1:3000"))
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_create_returns_the_app_without_its_secret(client, auth, redis_client):
    resp = client.post("/v1/oauth2", json=GOOGLE, headers=auth)
    assert resp.status_code == 201
    app = resp.json
    assert app["id"].startswith("oa_")
    assert app["hasClientSecret"] is True
    assert "clientSecret" not in app and GOOGLE["clientSecret"] not in resp.get_data(as_text=True)
    assert client.get(f"/v1/oauth2/{app['id']}", headers=auth).json == app
    assert client.get("/v1/oauth2", headers=auth).json == {"apps": [app]}
    for key in redis_client.scan_iter("*"):
        if redis_client.type(key) == b"hash":
            assert not any(GOOGLE["clientSecret"].encode() in v for v in redis_client.hvals(key))


def test_update_keeps_the_secret_unless_given_and_delete_removes(client, auth, storage):
    app_id = client.post("/v1/oauth2", json=MICROSOFT, headers=auth).json["id"]
    resp = client.put(f"/v1/oauth2/{app_id}", json={"name": "Renamed"}, headers=auth)
    assert resp.status_code == 200 and resp.json["name"] == "Renamed"
    assert storage.oauth.get_app(app_id).client_secret.reveal() == MICROSOFT["clientSecret"]
    client.put(f"/v1/oauth2/{app_id}", json={"clientSecret": "rotated"}, headers=auth)
    assert storage.oauth.get_app(app_id).client_secret.reveal() == "rotated"
    assert client.delete(f"/v1/oauth2/{app_id}", headers=auth).json == {"deleted": True, "id": app_id}
    missing = client.get(f"/v1/oauth2/{app_id}", headers=auth)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "oauthAppNotFound"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOGLE, "provider": "yahoo"}, "provider"),
        ({**GOOGLE, "redirectUrl": "javascript:alert(1)"}, "redirectUrl"),
        ({**GOOGLE, "tenant": "common"}, "body"),
        ({"provider": "custom", "name": "x", "clientId": "c", "redirectUrl": "https://b.example/cb"}, "body"),
        ({**GOOGLE, "scopes": ["bad scope"]}, "scopes.0"),
    ],
)
def test_invalid_apps_are_refused(client, auth, body, field):
    resp = client.post("/v1/oauth2", json=body, headers=auth)
    assert resp.status_code == 400
    assert field in [d["field"] for d in resp.json["error"]["details"]] or field == "body"


def test_google_preset_asks_for_mail_and_offline_access_with_pkce(client, auth, storage, settings):
    app_id = client.post("/v1/oauth2", json=GOOGLE, headers=auth).json["id"]
    location, query = _provider_query(client, auth, app_id, email="you@gmail.com")
    assert location.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert query["response_type"] == "code"
    assert query["client_id"] == GOOGLE["clientId"]
    assert query["redirect_uri"] == GOOGLE["redirectUrl"]
    assert "https://mail.google.com/" in query["scope"].split()
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["login_hint"] == "you@gmail.com"
    assert query["code_challenge_method"] == "S256"
    # The challenge is S256 of the verifier kept (sealed) with the pending sign-in.
    pending = storage.oauth.peek_signin(read_state(settings.secret.reveal(), query["state"]))
    assert pkce.challenge(pending.verifier.reveal()) == query["code_challenge"]


def test_microsoft_preset_uses_the_tenant_and_outlook_scopes(client, auth):
    app_id = client.post("/v1/oauth2", json=MICROSOFT, headers=auth).json["id"]
    location, query = _provider_query(client, auth, app_id)
    assert location.startswith("https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?")
    scopes = query["scope"].split()
    for scope in (
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
    ):
        assert scope in scopes
    assert "access_type" not in query
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43


def test_microsoft_tenant_defaults_to_common(client, auth):
    body = {k: v for k, v in MICROSOFT.items() if k != "tenant"}
    app_id = client.post("/v1/oauth2", json=body, headers=auth).json["id"]
    location, _ = _provider_query(client, auth, app_id)
    assert location.startswith("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?")


def test_routes_declare_their_scope(client):
    spec = client.get("/openapi.json").json
    assert spec["paths"]["/v1/oauth2"]["post"]["x-scope"] == "manage"
    assert spec["paths"]["/v1/authentication/form"]["post"]["x-scope"] == "manage"
    assert spec["paths"]["/v1/account/{account}/oauth-token"]["get"]["x-scope"] == "admin"
