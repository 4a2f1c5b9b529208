"""GET/PUT /v1/account/{account}/policy against a real Redis."""

from __future__ import annotations

import pytest

from bridge.config import Secret
from bridge.models import Account, ServerConfig
from tests.unit.test_policy import ISSUE_EXAMPLE

URL = "/v1/account/acme/policy"


@pytest.fixture
def account(storage):
    server = ServerConfig(host="127.0.0.1", port=1, user="support@acme.test", password=Secret("pw"))
    return storage.accounts.create(Account(id="acme", email="support@acme.test", imap=server, smtp=server))


def test_default_policy_lets_everything_through(client, auth, account):
    resp = client.get(URL, headers=auth)
    assert resp.status_code == 200
    assert resp.json["inbound"] == {
        "defaultAction": "deliver", "senders": [], "contentGuards": [], "reviewers": None,
        "holdTtlSeconds": None, "onExpiry": "reject",
    }  # fmt: skip
    assert resp.json["outbound"]["review"] == "never"
    assert resp.json["audit"] == {"retentionDays": 90}


def test_put_then_get_returns_the_issue_shape(client, auth, account):
    put = client.put(URL, json=ISSUE_EXAMPLE, headers=auth)
    assert put.status_code == 200, put.json
    got = client.get(URL, headers=auth).json
    assert got == put.json
    assert got["inbound"]["senders"][0]["match"]["address"] == "boss@acme.com"
    assert got["outbound"]["review"] == {"recipientsOver": 5}
    assert got["inbound"]["contentGuards"][0]["reason"] == "prompt_injection_suspected"


def test_bad_regex_is_refused_and_named_with_its_path(client, auth, account):
    body = {"inbound": {"contentGuards": [{"pattern": "ok"}, {"pattern": "ignore (all", "flags": "i"}]}}
    resp = client.put(URL, json=body, headers=auth)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalidInput"
    assert "inbound.contentGuards.1.pattern" in resp.json["error"]["message"]
    assert "regular expression" in resp.json["error"]["message"]
    # Nothing was stored.
    assert client.get(URL, headers=auth).json["inbound"]["contentGuards"] == []


def test_unknown_fields_are_refused(client, auth, account):
    resp = client.put(URL, json={"inbound": {"defaultAction": "deliver", "allowlist": []}}, headers=auth)
    assert resp.status_code == 400
    assert resp.json["error"]["details"][0]["field"] == "inbound.allowlist"


def test_unknown_account_is_404(client, auth):
    assert client.get("/v1/account/nope/policy", headers=auth).status_code == 404
    assert client.put("/v1/account/nope/policy", json={}, headers=auth).status_code == 404


def test_policy_needs_a_token(client, account):
    assert client.get(URL).status_code == 401
