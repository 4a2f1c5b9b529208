"""The WebSocket event stream with a real server (werkzeug, threaded) and a real client."""

from __future__ import annotations

import http.client
import json
import time

import pytest
import simple_websocket

from bridge.events.emit import emit


def connect(server, token, query="", account="acme", header=True):
    url = f"ws://{server}/v1/account/{account}/stream{query}"
    headers = {"Authorization": f"Bearer {token}"} if header else {}
    return simple_websocket.Client.connect(url, headers=headers)


def frames(ws, n, timeout=5.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"got {len(out)} of {n} frames"
        data = ws.receive(timeout=left)
        if data is not None:
            out.append(json.loads(data))
    return out


def test_live_events_arrive_as_webhook_shaped_json(server, storage, token, account):
    ws = connect(server, token)
    try:
        time.sleep(0.2)
        sent = emit(storage, account, "messageNew", {"subject": "hello"})
        [frame] = frames(ws, 1)
        assert frame == sent.to_dict()
        assert set(frame) == {"id", "event", "account", "date", "data"}
    finally:
        ws.close()


def test_since_replays_what_the_client_missed_then_follows(server, storage, token, account):
    first = emit(storage, account, "messageNew", {"n": 1})
    for n in (2, 3, 4):
        emit(storage, account, "messageNew", {"n": n})
    emit(storage, "someone-else", "messageNew", {"n": 99})
    ws = connect(server, token, f"?since={first.id}")
    try:
        assert [f["data"]["n"] for f in frames(ws, 3)] == [2, 3, 4]
        emit(storage, account, "messageSent", {"n": 5})
        assert frames(ws, 1)[0]["data"]["n"] == 5
    finally:
        ws.close()


def test_since_evt_0_replays_everything_kept(server, storage, token, account):
    sent = [emit(storage, account, "messageNew", {"n": n}) for n in range(3)]
    ws = connect(server, token, "?since=evt_0")
    try:
        assert [f["id"] for f in frames(ws, 3)] == [e.id for e in sent]
    finally:
        ws.close()


def test_access_token_in_the_query(server, storage, token, account):
    ws = connect(server, token, f"?access_token={token}", header=False)
    try:
        time.sleep(0.2)
        emit(storage, account, "messageNew", {})
        assert frames(ws, 1)[0]["event"] == "messageNew"
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/v1/account/acme/stream", {}, 401, "unauthorized"),
        ("/v1/account/nobody/stream", None, 404, "accountNotFound"),
        ("/v1/account/acme/stream?since=yesterday", None, 400, "invalidEventId"),
    ],
)
def test_refusals_are_json_before_the_upgrade(server, token, account, path, headers, status, code):
    # A real handshake request, so the route matches; the refusal must come before the upgrade.
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    conn = http.client.HTTPConnection(server, timeout=5)
    conn.request(
        "GET", path, headers={**handshake, **(headers if headers is not None else {"Authorization": f"Bearer {token}"})}
    )
    resp = conn.getresponse()
    assert resp.status == status
    assert json.loads(resp.read())["error"]["code"] == code
    conn.close()


def test_a_slow_client_does_not_hold_back_the_others(server, storage, token, account):
    # One client never reads; the other must still get every event promptly,
    # and emitting must never wait for either of them.
    stalled = connect(server, token)
    reader = connect(server, token)
    try:
        time.sleep(0.2)
        payload = {"blob": "x" * 20_000}
        for n in range(300):  # ~6 MB: far more than the stalled client's socket buffers hold
            emit(storage, account, "messageNew", {**payload, "n": n})
        got = frames(reader, 300, timeout=30)
        assert [f["data"]["n"] for f in got] == list(range(300))
    finally:
        reader.close()
        stalled.close()


def test_a_plain_get_is_a_json_426_naming_the_protocol(client, auth, account):
    resp = client.get(f"/v1/account/{account}/stream", headers=auth)
    assert resp.status_code == 426
    assert resp.json["error"]["code"] == "upgradeRequired"
    assert resp.headers["Upgrade"] == "websocket"


def test_access_token_in_the_query_is_only_for_the_stream(client, token, account):
    assert client.get(f"/v1/account/{account}/messages?access_token={token}").status_code == 401
    resp = client.get(f"/v1/account/{account}/stream?access_token={token}")
    assert resp.status_code == 426
