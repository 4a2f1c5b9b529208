"""Accounts API against a real Dovecot, a real SMTP sink and a real Redis."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bridge.events.emit import emit
from bridge.imap import session
from tests.redis_scan import assert_nowhere


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_attach_account_logs_in_and_stores_it(client, auth, account_body, mailbox):
    resp = client.post("/v1/accounts", json=account_body(), headers=auth)
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["account"] == "acme"
    assert body["email"] == mailbox.address
    assert body["imap"]["auth"] == {"user": mailbox.address, "method": "password"}
    assert mailbox.password not in resp.get_data(as_text=True)
    assert "pass" not in body["imap"]["auth"]
    assert body["state"]["state"] == "init"
    assert client.get("/v1/account/acme", headers=auth).json["name"] == "Acme Support"


def test_wrong_imap_password_is_refused_and_nothing_stored(client, auth, account_body, mailbox):
    bad = account_body()
    bad["imap"]["auth"]["pass"] = "wrong"
    resp = client.post("/v1/accounts", json=bad, headers=auth)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "authenticationFailed"
    assert resp.json["error"]["details"]["side"] == "imap"
    assert client.get("/v1/account/acme", headers=auth).status_code == 404


def test_wrong_smtp_password_is_refused_naming_smtp(client, auth, account_body):
    bad = account_body()
    bad["smtp"]["auth"]["pass"] = "wrong"
    resp = client.post("/v1/accounts", json=bad, headers=auth)
    assert resp.status_code == 422
    assert resp.json["error"] == {
        "code": "authenticationFailed",
        "message": resp.json["error"]["message"],
        "details": {"side": "smtp"},
    }
    assert "535" in resp.json["error"]["message"]
    assert client.get("/v1/accounts", headers=auth).json == {"accounts": []}


@pytest.mark.parametrize("side", ["imap", "smtp"])
def test_unreachable_server_is_connect_failed(client, auth, account_body, side):
    bad = account_body()
    bad[side]["port"] = _closed_port()
    resp = client.post("/v1/accounts", json=bad, headers=auth)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "connectFailed"
    assert resp.json["error"]["details"] == {"side": side}


def test_verify_false_skips_the_login(client, auth, account_body):
    body = account_body(verify=False)
    body["imap"]["auth"]["pass"] = "wrong"
    assert client.post("/v1/accounts", json=body, headers=auth).status_code == 201


def test_duplicate_account_is_a_conflict(client, auth, account_body):
    assert client.post("/v1/accounts", json=account_body(), headers=auth).status_code == 201
    resp = client.post("/v1/accounts", json=account_body(), headers=auth)
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "accountExists"


def test_imaps_verifies_the_certificate_unless_told_not_to(client, auth, account_body, mailbox):
    # The test server's certificate is self-signed: verification must fail by default.
    body = account_body()
    body["imap"].update(port=mailbox.imaps_port, secure=True)
    resp = client.post("/v1/accounts", json=body, headers=auth)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "connectFailed"
    body["imap"]["tls"] = {"rejectUnauthorized": False}
    assert client.post("/v1/accounts", json=body, headers=auth).status_code == 201


def test_starttls_upgrade_then_login(client, auth, account_body):
    body = account_body()
    body["imap"].update(starttls=True, tls={"rejectUnauthorized": False})
    assert client.post("/v1/accounts", json=body, headers=auth).status_code == 201


def test_list_get_update_delete(client, auth, account_body):
    client.post("/v1/accounts", json=account_body("one"), headers=auth)
    client.post("/v1/accounts", json=account_body("two", verify=False), headers=auth)
    assert [a["account"] for a in client.get("/v1/accounts", headers=auth).json["accounts"]] == ["one", "two"]

    resp = client.put("/v1/account/one", json={"name": "Renamed", "watch": ["INBOX", "Junk"]}, headers=auth)
    assert resp.status_code == 200
    assert resp.json["name"] == "Renamed"
    assert resp.json["watch"] == ["INBOX", "Junk"]
    assert resp.json["updated"] >= resp.json["created"]

    assert client.delete("/v1/account/one", headers=auth).json == {"deleted": True, "id": "one"}
    assert client.get("/v1/account/one", headers=auth).status_code == 404
    assert client.delete("/v1/account/one", headers=auth).status_code == 404


def test_update_with_a_wrong_password_changes_nothing(client, auth, account_body, mailbox, storage):
    client.post("/v1/accounts", json=account_body(), headers=auth)
    imap = account_body()["imap"]
    imap["auth"]["pass"] = "wrong"
    resp = client.put("/v1/account/acme", json={"imap": imap}, headers=auth)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "authenticationFailed"
    # The stored password still works: a login with the stored settings succeeds.
    assert asyncio.run(session.fetch_mailboxes(storage.accounts.get("acme").imap))


def test_update_without_pass_keeps_the_stored_password(client, auth, account_body, storage):
    client.post("/v1/accounts", json=account_body(), headers=auth)
    imap = account_body()["imap"]
    del imap["auth"]["pass"]
    assert client.put("/v1/account/acme", json={"imap": imap}, headers=auth).status_code == 200
    assert asyncio.run(session.fetch_mailboxes(storage.accounts.get("acme").imap))


def test_verify_account_reports_each_side_without_saving(client, auth, account_body):
    body = account_body()
    body["smtp"]["auth"]["pass"] = "wrong"
    resp = client.post("/v1/verifyAccount", json={"imap": body["imap"], "smtp": body["smtp"]}, headers=auth)
    assert resp.status_code == 200
    assert resp.json["imap"] == {"success": True, "code": None, "error": None}
    assert resp.json["smtp"]["success"] is False
    assert resp.json["smtp"]["code"] == "authenticationFailed"
    assert client.get("/v1/accounts", headers=auth).json == {"accounts": []}


def test_no_plaintext_password_anywhere_in_redis(client, auth, account_body, redis_client, mailbox):
    # Passwords must be encrypted at rest: read every key and value Redis holds.
    body = account_body()
    body["smtp"]["auth"]["pass"] = mailbox.password
    assert client.post("/v1/accounts", json=body, headers=auth).status_code == 201
    assert assert_nowhere(redis_client, [mailbox.password]) > 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account": "bad id!"}, "account"),
        ({"email": "not-an-address"}, "email"),
        ({"imap": {"host": "x", "port": 0, "auth": {"user": "u", "pass": "p"}}}, "imap.port"),
        ({"imap": {"host": "bad host", "port": 993, "auth": {"user": "u", "pass": "p"}}}, "imap.host"),
        ({"imap": {"host": "h", "port": 993, "auth": {"user": "u"}}}, "body"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_bodies_name_the_field(client, auth, account_body, change, field):
    body = account_body()
    body.update(change)
    resp = client.post("/v1/accounts", json=body, headers=auth)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "invalidInput"
    assert field in [d["field"] for d in resp.json["error"]["details"]] or field == "body"


def test_default_watch_is_inbox_and_the_junk_folder(client, auth, account_body):
    resp = client.post("/v1/accounts", json=account_body(), headers=auth)
    assert resp.json["watch"] == ["INBOX", "Junk"]
    chosen = client.post("/v1/accounts", json=account_body("two", watch=["INBOX"]), headers=auth)
    assert chosen.json["watch"] == ["INBOX"]


def test_watching_a_missing_folder_is_refused(client, auth, account_body):
    resp = client.post("/v1/accounts", json=account_body(watch=["INBOX", "Nope"]), headers=auth)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "folderNotFound"
    assert resp.json["error"]["details"] == {"side": "imap", "folder": "Nope"}


def test_delete_cancels_scheduled_sends_and_rejects_pending_holds(client, auth, account_body, storage):
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    body = {"to": [{"address": "ann@example.com"}], "subject": "later", "text": "x", "copy": False}
    scheduled = client.post(
        "/v1/account/acme/submit", json={**body, "sendAt": "2999-01-01T00:00:00Z"}, headers=auth
    ).json["queueId"]
    policy = {"outbound": {"review": "always", "reviewers": ["boss@example.com"]}}
    assert client.put("/v1/account/acme/policy", json=policy, headers=auth).status_code == 200
    review_id = client.post("/v1/account/acme/submit", json=body, headers=auth).json["reviewId"]

    assert client.delete("/v1/account/acme", headers=auth).status_code == 200
    assert storage.outbox.get(scheduled).state == "cancelled"
    assert storage.outbox.active(10, account="acme") == []
    review = storage.reviews.get(review_id)
    assert review.state == "rejected" and review.decided_by.startswith("token:")
    assert storage.reviews.pending(10, account="acme") == []


def test_delete_purges_the_accounts_data(client, auth, account_body, storage, redis_client):
    client.post("/v1/accounts", json=account_body(verify=False), headers=auth)
    policy = {"inbound": {"defaultAction": "hold"}}
    assert client.put("/v1/account/acme/policy", json=policy, headers=auth).status_code == 200
    emit(storage, "acme", "messageNew", {})
    client.post("/v1/account/acme/suppressions", json={"address": "x@example.com"}, headers=auth)
    assert client.delete("/v1/account/acme", headers=auth).status_code == 200
    assert list(redis_client.scan_iter("bridge:account:acme:*")) == []
    client.post("/v1/accounts", json=account_body(verify=False), headers=auth)
    assert client.get("/v1/account/acme/policy", headers=auth).json["inbound"]["defaultAction"] == "deliver"
    assert client.get("/v1/account/acme/suppressions", headers=auth).json == {"suppressions": []}
