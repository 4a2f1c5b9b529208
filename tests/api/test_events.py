"""``GET /v1/account/{account}/events``: the long poll the MCP tool wait_for_messages and the SDK use."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.events.emit import emit
from bridge.models import TokenScope


def test_events_after_a_cursor_filtered_by_name(client, auth, storage, account):
    assert client.get("/v1/account/acme/events", headers=auth).json == {"events": [], "cursor": "evt_0"}
    sent = [emit(storage, "acme", name, {"n": n}) for n, name in enumerate(["messageNew", "messageSent", "messageNew"])]
    emit(storage, "other", "messageNew", {"n": 99})
    page = client.get("/v1/account/acme/events?cursor=evt_0", headers=auth).json
    assert page == {"events": [e.to_dict() for e in sent], "cursor": sent[-1].id}
    only_new = client.get("/v1/account/acme/events?cursor=evt_0&event=messageNew&limit=2", headers=auth).json
    # The first two events (one of each name) were read: the skipped one moved the cursor too.
    assert only_new == {"events": [sent[0].to_dict()], "cursor": sent[1].id}
    rest = client.get(f"/v1/account/acme/events?cursor={only_new['cursor']}&event=messageNew", headers=auth).json
    assert rest == {"events": [sent[2].to_dict()], "cursor": sent[2].id}
    # Without a cursor: from now on.
    assert client.get("/v1/account/acme/events", headers=auth).json == {"events": [], "cursor": sent[-1].id}


def test_a_long_poll_answers_when_an_event_arrives(client, auth, storage, account):
    start = client.get("/v1/account/acme/events", headers=auth).json["cursor"]
    answer = {}

    def poll():
        answer.update(client.get(f"/v1/account/acme/events?cursor={start}&timeout=60", headers=auth).json)

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()  # waiting, not answering empty
    sent = emit(storage, "acme", "messageNew", {"n": 1})
    thread.join(30)
    assert answer == {"events": [sent.to_dict()], "cursor": sent.id}


@pytest.mark.parametrize(
    ("query", "code"),
    [("cursor=yesterday", "invalidEventId"), ("timeout=61", "invalidInput"), ("event=message%20New", "invalidInput")],
)
def test_bad_queries_are_400(client, auth, account, query, code):
    resp = client.get(f"/v1/account/acme/events?{query}", headers=auth)
    assert resp.status_code == 400 and resp.json["error"]["code"] == code


def test_events_need_the_read_scope_and_the_account(client, storage, account):
    sender = {"Authorization": f"Bearer {storage.tokens.create('s', [TokenScope.SEND])[1]}"}
    assert client.get("/v1/account/acme/events", headers=sender).json["error"]["code"] == "insufficientScope"
    other = {"Authorization": f"Bearer {storage.tokens.create('o', [TokenScope.READ], ['other'])[1]}"}
    assert client.get("/v1/account/acme/events", headers=other).json["error"]["code"] == "accountNotFound"
