"""Webhook subscriptions over the API: create (secret once), list, get, delete, rotate, deliveries, redeliver."""

from __future__ import annotations

import base64
import logging
from dataclasses import replace

import pytest

from app import create_app
from bridge import keys
from bridge.config import Environment
from bridge.events.emit import emit
from bridge.models import Account, ServerConfig
from bridge.webhooks import signing
from tests.webhook_support import FAST, drain, redis_dump, webhook_worker


@pytest.fixture
def dispatcher(storage, settings):
    with webhook_worker(storage, settings, policy=FAST) as d:
        yield d


@pytest.fixture
def prod_client(settings):
    return create_app(replace(settings, env=Environment.PRODUCTION)).test_client()


def _subscribe(client, auth, url, **extra):
    response = client.post("/v1/webhooks", json={"url": url, **extra}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_the_secret_once(client, auth, http_receiver):
    body = _subscribe(client, auth, http_receiver.url + "/hook")
    assert body["id"].startswith("wh_")
    assert body["url"] == http_receiver.url + "/hook"
    assert body["events"] is None and body["account"] is None and body["created"]
    assert body["secret"].startswith("whsec_") and len(signing.secret_key(body["secret"])) == 32
    listed = client.get("/v1/webhooks", headers=auth).get_json()
    assert [w["id"] for w in listed["webhooks"]] == [body["id"]]
    one = client.get(f"/v1/webhooks/{body['id']}", headers=auth).get_json()
    assert "secret" not in one and "secret" not in listed["webhooks"][0]
    assert one == {k: v for k, v in body.items() if k != "secret"}


def test_create_with_event_filter_and_account(client, auth, storage, http_receiver):
    storage.accounts.create(Account(id="acme", email="a@example.test", imap=ServerConfig("h", 143, "u")))
    body = _subscribe(
        client, auth, http_receiver.url, events=["messageNew", "messageBounce", "messageNew"], account="acme"
    )
    assert body["events"] == ["messageNew", "messageBounce"]
    assert body["account"] == "acme"


def test_create_for_unknown_account_is_404(client, auth, http_receiver):
    response = client.post("/v1/webhooks", json={"url": http_receiver.url, "account": "nope"}, headers=auth)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "accountNotFound"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/"},
        {"url": "https://user:pw@example.com/"},
        {"url": "not a url"},
        {"url": "https://example.com/", "events": ["noSuchEvent"]},
        {"url": "https://example.com/", "events": []},
        {"url": "https://example.com/", "secret": "whsec_mine"},
        {},
    ],
)
def test_invalid_bodies_are_400(client, auth, body):
    response = client.post("/v1/webhooks", json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalidInput"


def test_requires_a_token(client):
    assert client.get("/v1/webhooks").status_code == 401


@pytest.mark.parametrize(
    "path,method",
    [
        ("/v1/webhooks/wh_nope", "GET"),
        ("/v1/webhooks/wh_nope", "DELETE"),
        ("/v1/webhooks/wh_nope/rotate-secret", "POST"),
        ("/v1/webhooks/wh_nope/deliveries", "GET"),
        ("/v1/webhooks/wh_nope/deliveries/dlv_nope/redeliver", "POST"),
    ],
)
def test_unknown_webhook_is_404_json(client, auth, path, method):
    response = client.open(path, method=method, headers=auth)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "webhookNotFound"


def test_unknown_delivery_is_404(client, auth, http_receiver):
    hook = _subscribe(client, auth, http_receiver.url)
    response = client.post(f"/v1/webhooks/{hook['id']}/deliveries/dlv_nope/redeliver", headers=auth)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "deliveryNotFound"


def test_delete(client, auth, http_receiver):
    hook = _subscribe(client, auth, http_receiver.url)
    response = client.delete(f"/v1/webhooks/{hook['id']}", headers=auth)
    assert response.status_code == 200 and response.get_json() == {"deleted": True, "id": hook["id"]}
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=auth).status_code == 404


def test_rotate_returns_a_new_secret_and_when_the_old_one_stops(client, auth, http_receiver):
    hook = _subscribe(client, auth, http_receiver.url)
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=auth).get_json()
    assert rotated["id"] == hook["id"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    assert rotated["previousSecretExpires"] > hook["created"]


# -- SSRF at registration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hook",  # a name that resolves to loopback
        "http://127.0.0.1/hook",
        "http://[::1]/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/",
    ],
)
def test_production_refuses_non_public_destinations(prod_client, auth, url):
    response = prod_client.post("/v1/webhooks", json={"url": url}, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "webhookUrlNotAllowed"


def test_production_accepts_a_public_address(prod_client, auth):
    # An IP literal needs no DNS, so this stays offline.
    response = prod_client.post("/v1/webhooks", json={"url": "https://8.8.8.8/hook"}, headers=auth)
    assert response.status_code == 201


def test_development_allows_local_receivers(client, auth):
    response = client.post("/v1/webhooks", json={"url": "http://localhost:9/hook"}, headers=auth)
    assert response.status_code == 201


# -- secrets stay secret ------------------------------------------------------------------


def test_secrets_never_reach_redis_responses_or_logs(client, auth, redis_client, http_receiver, caplog):
    caplog.set_level(logging.DEBUG)
    hook = _subscribe(client, auth, http_receiver.url)
    rotated = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=auth).get_json()
    shown = [hook["secret"], rotated["secret"]]
    reads = [
        client.get("/v1/webhooks", headers=auth).get_data(),
        client.get(f"/v1/webhooks/{hook['id']}", headers=auth).get_data(),
        client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_data(),
    ]
    dump = redis_dump(redis_client)
    for secret in shown:
        key_b64 = secret.removeprefix("whsec_").encode()
        assert key_b64 not in dump
        assert signing.secret_key(secret) not in dump
        assert base64.urlsafe_b64encode(signing.secret_key(secret)) not in dump
        assert all(key_b64 not in body for body in reads)
        assert secret not in caplog.text


# -- deliveries and redelivery --------------------------------------------------------------


def test_deliveries_list_attempts_newest_first_with_cursor(
    client, auth, storage, redis_client, http_receiver, dispatcher
):
    hook = _subscribe(client, auth, http_receiver.url)
    events = [emit(storage, "acme", "messageNew", {"n": i}, dispatcher=dispatcher) for i in range(3)]
    http_receiver.wait_for(3)
    drain(redis_client, lambda: all(d.status == "delivered" for d, _ in storage.webhooks.page(hook["id"], limit=10)[0]))
    first = client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=2", headers=auth).get_json()
    assert [d["eventId"] for d in first["deliveries"]] == [events[2].id, events[1].id]
    delivery = first["deliveries"][0]
    assert delivery["status"] == "delivered" and delivery["attemptCount"] == 1
    attempt = delivery["attempts"][0]
    assert attempt["attempt"] == 1 and attempt["statusCode"] == 200 and attempt["error"] is None
    assert attempt["latencyMs"] >= 0 and attempt["time"] and attempt["outcome"] == "delivered"
    assert first["nextCursor"] is not None
    second = client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=2&cursor={first['nextCursor']}", headers=auth)
    page2 = second.get_json()
    assert [d["eventId"] for d in page2["deliveries"]] == [events[0].id]
    assert page2["nextCursor"] is None


def test_redeliver_makes_a_new_attempt_with_the_same_webhook_id(
    client, auth, storage, redis_client, http_receiver, dispatcher
):
    hook = _subscribe(client, auth, http_receiver.url)
    event = emit(storage, "acme", "messageNew", {"subject": "hi"}, dispatcher=dispatcher)
    first = http_receiver.wait_for(1)[0]
    page = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()
    delivery_id = page["deliveries"][0]["id"]
    drain(redis_client, lambda: storage.webhooks.get_delivery(hook["id"], delivery_id).attempts == 1)

    response = client.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery_id}/redeliver", headers=auth)
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    drain(redis_client, lambda: len(http_receiver.requests) >= 2)
    second = http_receiver.requests[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"] == event.id
    assert second.body == first.body
    assert signing.verify(hook["secret"], second.headers, second.body, now=second.received_at)
    drain(redis_client, lambda: storage.webhooks.get_delivery(hook["id"], delivery_id).status == "delivered")
    attempts = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["deliveries"][0]
    assert [a["attempt"] for a in attempts["attempts"]] == [2, 1]
    assert attempts["attemptCount"] == 2


def test_redelivering_an_event_the_stream_has_trimmed_is_410(
    client, auth, storage, redis_client, http_receiver, dispatcher
):
    hook = _subscribe(client, auth, http_receiver.url)
    emit(storage, "acme", "messageNew", {"subject": "hi"}, dispatcher=dispatcher)
    http_receiver.wait_for(1)
    [delivery] = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth).get_json()["deliveries"]
    drain(redis_client, lambda: storage.webhooks.get_delivery(hook["id"], delivery["id"]).status == "delivered")
    # Delivered: Redis keeps no copy of the body; the event stream is where it can still be read.
    assert list(redis_client.scan_iter(keys.webhook_body("*"))) == []
    redis_client.xtrim(keys.events("acme"), maxlen=0)  # as BRIDGE_EVENT_RETENTION does once the bound is reached
    response = client.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver", headers=auth)
    assert response.status_code == 410
    error = response.get_json()["error"]
    assert error["code"] == "eventTrimmed" and "BRIDGE_EVENT_RETENTION" in error["message"]
    assert storage.webhooks.get_delivery(hook["id"], delivery["id"]).status == "delivered"
