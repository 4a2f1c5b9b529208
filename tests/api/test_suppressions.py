"""The suppression list API, and the pipeline filling it from real bounces and complaints."""

from __future__ import annotations

from pathlib import Path

from bridge.mail import ids

DATA = Path(__file__).resolve().parents[1] / "data" / "bounces"


def test_add_list_remove(client, auth, account_body):
    client.post("/v1/accounts", json=account_body(verify=False), headers=auth)
    resp = client.post(
        "/v1/account/acme/suppressions", json={"address": "Gone@Example.COM", "reason": "asked us"}, headers=auth
    )
    assert resp.status_code == 201
    assert resp.json["source"] == "manual"
    listed = client.get("/v1/account/acme/suppressions", headers=auth).json["suppressions"]
    assert [(s["address"], s["reason"]) for s in listed] == [("Gone@example.com", "asked us")]
    # Case-insensitive on the way out as well.
    assert client.delete("/v1/account/acme/suppressions/gone@example.com", headers=auth).status_code == 200
    assert client.get("/v1/account/acme/suppressions", headers=auth).json == {"suppressions": []}
    again = client.delete("/v1/account/acme/suppressions/gone@example.com", headers=auth)
    assert again.status_code == 404 and again.json["error"]["code"] == "suppressionNotFound"


def test_bad_address_and_unknown_account(client, auth, account_body):
    client.post("/v1/accounts", json=account_body(verify=False), headers=auth)
    assert client.post("/v1/account/acme/suppressions", json={"address": "nope"}, headers=auth).status_code == 400
    assert client.get("/v1/account/other/suppressions", headers=auth).status_code == 404


def test_hard_bounce_and_complaint_from_the_inbox_suppress_recipients(client, auth, attached, dovecot, mailbox):
    bounces = sorted(DATA.glob("*.eml"))
    assert bounces, "tests/data/bounces holds sample bounces"
    for path in bounces:
        dovecot.deliver(mailbox.address, path.read_bytes())
    attached.wait_events(len(bounces))
    events = attached.storage.events.since("acme", 0, count=10_000)
    bounced = [e for e in events if e.event == "messageBounce"]
    complained = [e for e in events if e.event == "messageComplaint"]
    assert bounced and complained
    for event in bounced:
        assert event.data["bounceMessage"] and ids.decode(event.data["bounceMessage"])
        assert event.data["queueId"] is None  # we did not send these originals
    suppressed = {
        s["address"].lower(): s for s in client.get("/v1/account/acme/suppressions", headers=auth).json["suppressions"]
    }
    hard = {r["recipient"].lower() for e in bounced for r in e.data["recipients"] if r["hard"]}
    soft = {r["recipient"].lower() for e in bounced for r in e.data["recipients"] if not r["hard"]} - hard
    assert hard and hard <= set(suppressed)
    assert not soft & set(suppressed)
    for e in complained:
        for r in e.data["recipients"]:
            assert suppressed[r["recipient"].lower()]["source"] == "complaint"
