"""Scoped API tokens: every /v1 operation declares its scope and enforces it; account limits; token routes.

The table test walks the served OpenAPI document, so a route added later
without a scope (or with one the check does not enforce) fails here.
"""

from __future__ import annotations

import re

import pytest

from bridge import keys
from bridge.crypto import hash_token, new_api_token
from bridge.models import TokenScope
from tests.api.test_reviews import account, held, set_policy, settings, workers  # noqa: F401 - fixtures

ALL = set(TokenScope)
METHODS = ("get", "post", "put", "delete")

# What the issue asks for, pinned for the routes where a wrong scope would matter most.
EXPECTED = {
    ("post", "/v1/account/{account}/submit"): "send",
    ("put", "/v1/account/{account}/message/{message}"): "send",
    ("delete", "/v1/account/{account}/message/{message}"): "send",
    ("get", "/v1/account/{account}/messages"): "read",
    ("get", "/v1/account/{account}/stream"): "read",
    ("get", "/v1/account/{account}/mailboxes"): "read",
    ("post", "/v1/accounts"): "manage",
    ("post", "/v1/webhooks"): "manage",
    ("put", "/v1/account/{account}/policy"): "manage",
    ("post", "/v1/account/{account}/suppressions"): "manage",
    ("get", "/v1/reviews"): "review",
    ("post", "/v1/reviews/{review_id}/approve"): "review",
    ("post", "/v1/reviews/{review_id}/reject"): "review",
    ("post", "/v1/tokens"): "admin",
    ("get", "/v1/tokens"): "admin",
    ("delete", "/v1/tokens/{token_id}"): "admin",
    ("get", "/metrics"): "metrics",  # a scraper's token opens nothing else
}


def _operations(client) -> list[tuple[str, str, dict]]:
    spec = client.get("/openapi.json").json
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS and op.get("security")
    ]


def _url(path: str) -> str:
    return re.sub(r"{account}", "acme", re.sub(r"{(?!account})[^}]+}", "x1", path))


# A WebSocket handshake (RFC 6455 § 4.1), so the stream's route matches and the check runs before the upgrade.
HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def _call(client, method: str, path: str, headers: dict[str, str]):
    extra = HANDSHAKE if path.endswith("/stream") else {}
    return client.open(_url(path), method=method.upper(), headers={**extra, **headers})


def _bearer(storage, scopes, accounts=None) -> dict[str, str]:
    return {"Authorization": f"Bearer {storage.tokens.create('scoped', scopes, accounts)[1]}"}


def test_every_authenticated_operation_declares_its_scope(client):
    ops = _operations(client)
    assert len(ops) > 40
    declared = {(m, p): op.get("x-scope") for m, p, op in ops}
    assert all(scope in {s.value for s in TokenScope} for scope in declared.values()), declared
    assert {k: declared[k] for k in EXPECTED} == EXPECTED
    assert all("403" in op["responses"] for _, _, op in ops)


def test_every_operation_refuses_a_token_without_its_scope(client, storage):
    tokens = {s: _bearer(storage, ALL - {s, TokenScope.ADMIN}) for s in TokenScope}
    admin = _bearer(storage, [TokenScope.ADMIN])
    for method, path, op in _operations(client):
        scope = TokenScope(op["x-scope"])
        resp = _call(client, method, path, tokens[scope])
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert resp.json["error"]["code"] == "insufficientScope", (method, path)
        assert resp.json["error"]["details"]["required"] == scope.value
        # admin implies every scope: whatever else the route answers (400, 404, 415 …), it is not 403.
        resp = _call(client, method, path, admin)
        assert resp.status_code != 403, (method, path, resp.json)


def test_a_token_with_the_scope_gets_past_the_check(client, storage):
    for method, path, op in _operations(client):
        scope = TokenScope(op["x-scope"])
        resp = _call(client, method, path, _bearer(storage, [scope]))
        assert resp.status_code != 403, (method, path, resp.json)


def test_public_routes_stay_public(client):
    assert client.get("/health").status_code in (200, 503)
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_stream_needs_read_also_with_the_query_token(client, storage):
    _, send = storage.tokens.create("send only", [TokenScope.SEND])
    resp = client.get(f"/v1/account/acme/stream?access_token={send}", headers=HANDSHAKE)
    assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficientScope"
    _, read = storage.tokens.create("reader", [TokenScope.READ])
    resp = client.get(f"/v1/account/acme/stream?access_token={read}", headers=HANDSHAKE)
    assert resp.status_code == 404  # past the check: there is no such account


# --- accounts ------------------------------------------------------------------------------


@pytest.fixture
def two_accounts(client, auth, account_body):
    for name in ("acme", "other"):
        resp = client.post("/v1/accounts", json=account_body(name, verify=False), headers=auth)
        assert resp.status_code == 201, resp.json


def test_a_token_limited_to_an_account_sees_only_that_one(client, storage, two_accounts):
    limited = _bearer(storage, [TokenScope.READ, TokenScope.MANAGE], ["acme"])
    # Let through (no watcher runs here, so the mailbox itself is unavailable; not 403 or 404).
    assert client.get("/v1/account/acme/messages", headers=limited).json["error"]["code"] == "accountUnavailable"
    assert client.get("/v1/account/acme/policy", headers=limited).status_code == 200
    # Another account answers exactly as an account that does not exist: its existence is not leaked.
    other = client.get("/v1/account/other/messages", headers=limited)
    missing = client.get("/v1/account/nobody/messages", headers=limited)
    assert other.status_code == missing.status_code == 404
    assert other.json["error"]["code"] == missing.json["error"]["code"] == "accountNotFound"
    assert client.put("/v1/account/other/policy", json={}, headers=limited).status_code == 404
    assert client.get("/v1/account/other/stream", headers={**HANDSHAKE, **limited}).status_code == 404


@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", "/v1/accounts"), ("GET", "/v1/webhooks"), ("GET", "/v1/outbox"), ("POST", "/v1/verifyAccount")],
)  # fmt: skip
def test_a_limited_token_is_refused_on_routes_that_span_accounts(client, storage, method, url):
    limited = _bearer(storage, [TokenScope.ADMIN], ["acme"])
    resp = client.open(url, method=method, headers=limited)
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "accountRestricted"


def test_cross_account_listings_show_a_limited_token_only_its_accounts(client, auth, storage, two_accounts):
    limited = _bearer(storage, [TokenScope.MANAGE, TokenScope.REVIEW], ["acme", "gone"])
    assert [a["account"] for a in client.get("/v1/accounts", headers=limited).json["accounts"]] == ["acme"]
    assert len(client.get("/v1/accounts", headers=auth).json["accounts"]) == 2
    assert client.get("/v1/reviews", headers=limited).json == {"reviews": []}
    assert client.get("/v1/reviews?account=other", headers=limited).json == {"reviews": []}


def test_a_limited_reviewer_cannot_see_or_decide_another_accounts_hold(client, auth, storage, two_accounts):
    body = {"outbound": {"review": "always", "reviewers": ["r@example.com"]}}
    assert client.put("/v1/account/other/policy", json=body, headers=auth).status_code == 200
    submit = {"to": [{"address": "ann@example.com"}], "subject": "s", "text": "t", "copy": False}
    held = client.post("/v1/account/other/submit", json=submit, headers=auth).json["reviewId"]
    limited = _bearer(storage, [TokenScope.REVIEW], ["acme"])
    assert client.get("/v1/reviews", headers=limited).json == {"reviews": []}
    for method, url in (("GET", f"/v1/reviews/{held}"), ("POST", f"/v1/reviews/{held}/approve"),
                        ("POST", f"/v1/reviews/{held}/reject")):  # fmt: skip
        resp = client.open(url, method=method, headers=limited)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "reviewNotFound"
    assert storage.reviews.get(held).state == "pending"
    mine = _bearer(storage, [TokenScope.REVIEW], ["other"])
    assert [r["id"] for r in client.get("/v1/reviews", headers=mine).json["reviews"]] == [held]
    assert client.post(f"/v1/reviews/{held}/approve", headers=mine).json["state"] == "approved"


def test_deleting_an_account_takes_it_out_of_the_tokens_limited_to_it(
    client, auth, storage, two_accounts, account_body
):
    headers = _bearer(storage, [TokenScope.MANAGE], ["acme", "other"])
    only_acme = _bearer(storage, [TokenScope.MANAGE], ["acme"])
    assert client.delete("/v1/account/acme", headers=auth).status_code == 200
    limited = [t.accounts for t in storage.tokens.list() if t.accounts is not None]
    assert sorted(limited, key=len) == [frozenset(), frozenset({"other"})]
    # A new account under the old id is not open to the tokens that were given the old one.
    resp = client.post("/v1/accounts", json=account_body(verify=False), headers=auth)
    assert resp.status_code == 201, resp.json
    assert client.get("/v1/account/acme/policy", headers=headers).json["error"]["code"] == "accountNotFound"
    assert client.get("/v1/account/acme/policy", headers=only_acme).status_code == 404
    assert client.get("/v1/accounts", headers=only_acme).json == {"accounts": []}
    assert client.get("/v1/account/other/policy", headers=headers).status_code == 200


# --- token routes --------------------------------------------------------------------------


def test_token_routes_create_list_revoke(client, auth, storage):
    body = {"description": "ci", "scopes": ["read", "send", "read"], "accounts": ["acme"]}
    created = client.post("/v1/tokens", json=body, headers=auth)
    assert created.status_code == 201, created.json
    out = created.json
    assert out["token"].startswith("mb_") and out["scopes"] == ["read", "send"] and out["accounts"] == ["acme"]
    new = {"Authorization": f"Bearer {out['token']}"}
    assert client.get("/v1/account/acme/messages", headers=new).status_code == 404  # past the check; no account
    assert client.get("/v1/tokens", headers=new).json["error"]["code"] == "insufficientScope"
    assert client.get("/v1/outbox", headers=new).json["error"]["code"] == "accountRestricted"
    listed = client.get("/v1/tokens", headers=auth).json["tokens"]
    [mine] = [t for t in listed if t["id"] == out["id"]]
    assert "token" not in mine and mine["scopes"] == ["read", "send"] and mine["lastUsed"] is not None
    assert out["token"] not in str(listed)
    assert client.delete(f"/v1/tokens/{out['id']}", headers=auth).json == {"deleted": True, "id": out["id"]}
    assert client.get("/v1/account/acme/messages", headers=new).status_code == 401
    missing = client.delete(f"/v1/tokens/{out['id']}", headers=auth)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "tokenNotFound"


@pytest.mark.parametrize(
    "body",
    [{}, {"scopes": []}, {"scopes": ["root"]}, {"scopes": ["read"], "accounts": []},
     {"scopes": ["read"], "accounts": ["bad name"]}, {"scopes": ["read"], "extra": 1}],
)  # fmt: skip
def test_token_create_validates(client, auth, body):
    resp = client.post("/v1/tokens", json=body, headers=auth)
    assert resp.status_code == 400, resp.json


def test_only_admin_manages_tokens(client, storage):
    manage = _bearer(storage, [TokenScope.READ, TokenScope.SEND, TokenScope.MANAGE, TokenScope.REVIEW])
    resp = client.post("/v1/tokens", json={"scopes": ["admin"]}, headers=manage)
    assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficientScope"


def test_a_token_stored_before_scopes_is_admin(client, storage):
    token = new_api_token()
    storage.redis.hset(keys.token("tok_legacy"), mapping={"hash": hash_token(token), "description": "old",
                                                          "created": "2026-01-01T00:00:00.000Z"})  # fmt: skip
    storage.redis.set(keys.token_by_hash(hash_token(token)), "tok_legacy")
    storage.redis.zadd(keys.token_ids(), {"tok_legacy": 1})
    legacy = {"Authorization": f"Bearer {token}"}
    listed = client.get("/v1/tokens", headers=legacy)
    assert listed.status_code == 200
    [old] = [t for t in listed.json["tokens"] if t["id"] == "tok_legacy"]
    assert old["scopes"] == ["admin"] and old["accounts"] is None


# --- review holds --------------------------------------------------------------------------


def test_a_send_token_cannot_release_its_own_hold_a_review_token_can(client, auth, account, storage):  # noqa: F811
    set_policy(client, auth)
    sender = _bearer(storage, [TokenScope.SEND, TokenScope.READ, TokenScope.MANAGE])
    review_id = held(client, sender, storage)
    for action in ("approve", "reject"):
        resp = client.post(f"/v1/reviews/{review_id}/{action}", headers=sender)
        assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficientScope"
    assert client.get(f"/v1/reviews/{review_id}", headers=sender).status_code == 403
    reviewer = _bearer(storage, [TokenScope.REVIEW])
    assert client.get(f"/v1/reviews/{review_id}", headers=reviewer).json["state"] == "pending"
    resp = client.post(f"/v1/reviews/{review_id}/approve", headers=reviewer)
    assert resp.status_code == 200 and resp.json["state"] == "approved"
