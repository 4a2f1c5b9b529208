"""The Python client (sdk/python, package ``mailbridge``) against the real server.

Routes: a method for every operation of /openapi.json. Errors: the API's code on the exception.
Webhooks: ``verify_webhook`` accepts what the real dispatcher delivers to a real HTTP receiver and
refuses tampered or stale ones. ``listen()``: the web role under gunicorn is stopped and started
again while events keep coming; every event arrives exactly once, in order (counted by event id).
"""

from __future__ import annotations

import gc
import re
import threading
import time
import warnings
from pathlib import Path

import mailbridge
import pytest
from mailbridge import Mailbridge
from mailbridge.client import StreamSocket

from bridge.events.emit import emit
from bridge.models import TokenScope
from tests.api.conftest import TEST_SECRET
from tests.servers.process import free_port
from tests.servers.web import Gunicorn
from tests.webhook_support import FAST, webhook_worker

ROOT = Path(__file__).resolve().parents[2]
# Browser pages of the OAuth2 sign-in, not API routes: a client never calls them.
NOT_FOR_CLIENTS = re.compile(r"^/oauth/")


def _template(path: str) -> str:
    return re.sub(r"{[^}]+}", "{}", path)


def test_every_rest_operation_has_a_client_method(client):
    spec = client.get("/openapi.json").get_json()
    operations = {
        (method.upper(), _template(path))
        for path, ops in spec["paths"].items()
        for method in ops
        if not NOT_FOR_CLIENTS.match(path)
    }
    methods = {
        (m.__route__[0], _template(m.__route__[1]))
        for m in vars(Mailbridge).values()
        if callable(m) and hasattr(m, "__route__")
    }
    missing = operations - methods
    assert not missing, f"no client method for {sorted(missing)}"
    assert len(operations) > 40


def test_methods_return_the_api_json_and_errors_carry_its_code(server, storage, token, account):
    with Mailbridge(f"http://{server}", token) as mb:
        assert [a["account"] for a in mb.list_accounts()["accounts"]] == ["acme"]
        policy = mb.get_policy("acme")
        assert mb.update_policy("acme", policy) == policy
        assert "# TYPE" in mb.metrics()  # a raw route: the text as it is
        with pytest.raises(mailbridge.NotFound) as missing:
            mb.get_policy("nope")
        assert missing.value.code == "accountNotFound" and missing.value.status == 404
        created = mb.create_token(description="reader", scopes=["read"])
        assert created["token"].startswith("mb_")
    with Mailbridge(f"http://{server}", created["token"]) as reader:
        with pytest.raises(mailbridge.Forbidden) as refused:
            reader.update_policy("acme", policy)
        assert refused.value.code == "insufficientScope" and refused.value.details["required"] == "manage"
        assert isinstance(refused.value, mailbridge.ApiError) and isinstance(refused.value, mailbridge.MailbridgeError)
        sent = emit(storage, "acme", "messageNew", {"n": 1})
        page = reader.get_events("acme", cursor="evt_0")
        assert [e["id"] for e in page["events"]] == [sent.id] and page["cursor"] == sent.id
    with (
        Mailbridge(f"http://{server}", "mb_not-a-token") as stranger,
        pytest.raises(mailbridge.Unauthorized) as unknown,
    ):
        stranger.list_accounts()
    assert unknown.value.code == "unauthorized"
    with Mailbridge(f"http://127.0.0.1:{free_port()}", token) as nowhere, pytest.raises(mailbridge.TransportError):
        nowhere.list_accounts()


def test_listen_refuses_a_bad_token_or_account_with_the_api_error(server, storage, token, account):
    with Mailbridge(f"http://{server}", token) as mb, pytest.raises(mailbridge.NotFound) as missing:
        next(mb.listen("nope", since="evt_0"))
    assert missing.value.code == "accountNotFound"
    limited = storage.tokens.create("other", [TokenScope.SEND])[1]
    with Mailbridge(f"http://{server}", limited) as mb, pytest.raises(mailbridge.Forbidden) as refused:
        next(mb.listen("acme", since="evt_0"))
    assert refused.value.code == "insufficientScope"


def test_a_refused_stream_leaves_no_socket_open(server, token, account):
    """simple_websocket leaves a refused handshake's socket to the garbage collector; a listener that
    reconnects after each refusal would leak one per try. The suite ignores GC-time socket reports,
    so they are recorded here."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            with Mailbridge(f"http://{server}", token) as mb, pytest.raises(mailbridge.NotFound):
                next(mb.listen("nope", since="evt_0"))
            with pytest.raises(ConnectionRefusedError):  # the server is down: what listen() retries on
                StreamSocket.connect(f"ws://127.0.0.1:{free_port()}/v1/account/acme/stream")
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_verify_webhook_accepts_real_deliveries_and_refuses_forgeries(
    client, auth, storage, settings, http_receiver, account
):
    hook = client.post("/v1/webhooks", json={"url": http_receiver.url + "/hook"}, headers=auth).get_json()
    with webhook_worker(storage, settings, policy=FAST) as dispatcher:
        sent = emit(storage, "acme", "messageNew", {"subject": "signed"}, dispatcher=dispatcher)
        [delivery] = http_receiver.wait_for(1)
    event = mailbridge.verify_webhook(hook["secret"], delivery.body, delivery.headers)
    assert event == sent.to_dict()
    upper = {k.upper(): v for k, v in delivery.headers.items()}  # header names in any case
    assert mailbridge.verify_webhook(hook["secret"], delivery.body.decode(), upper) == event
    with pytest.raises(mailbridge.WebhookVerificationError):
        mailbridge.verify_webhook(hook["secret"], delivery.body.replace(b"signed", b"forged"), delivery.headers)
    other_secret = client.post("/v1/webhooks", json={"url": http_receiver.url}, headers=auth).get_json()["secret"]
    with pytest.raises(mailbridge.WebhookVerificationError):
        mailbridge.verify_webhook(other_secret, delivery.body, delivery.headers)
    # Replay: the same delivery, presented after the 5-minute window.
    signed_at = int(delivery.headers["webhook-timestamp"])
    with pytest.raises(mailbridge.WebhookVerificationError, match="tolerance"):
        mailbridge.verify_webhook(hook["secret"], delivery.body, delivery.headers, now=signed_at + 301)
    assert mailbridge.verify_webhook(hook["secret"], delivery.body, delivery.headers, now=signed_at + 299) == event
    missing = {k: v for k, v in delivery.headers.items() if k != "webhook-signature"}
    with pytest.raises(mailbridge.WebhookVerificationError, match="missing"):
        mailbridge.verify_webhook(hook["secret"], delivery.body, missing)


def test_verify_webhook_accepts_either_secret_during_a_rotation(
    client, auth, storage, settings, http_receiver, account
):
    hook = client.post("/v1/webhooks", json={"url": http_receiver.url}, headers=auth).get_json()
    new = client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=auth).get_json()["secret"]
    with webhook_worker(storage, settings, policy=FAST) as dispatcher:
        emit(storage, "acme", "messageNew", {"n": 1}, dispatcher=dispatcher)
        [delivery] = http_receiver.wait_for(1)
    assert len(delivery.headers["webhook-signature"].split()) == 2
    for secret in (hook["secret"], new):
        assert mailbridge.verify_webhook(secret, delivery.body, delivery.headers)["data"] == {"n": 1}


@pytest.fixture
def web(redis_url):
    web = Gunicorn(redis_url, TEST_SECRET)
    web.start()
    yield web
    web.stop()


def _wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_listen_loses_and_repeats_nothing_across_a_server_restart(web, storage, token, account):
    mb = Mailbridge(web.url, token)
    start = mb.get_events("acme")["cursor"]
    received: list[str] = []
    failure: list[BaseException] = []
    total = 30

    def consume() -> None:
        try:
            for event in mb.listen("acme", since=start, backoff_base=0.05, backoff_cap=0.5):
                received.append(event["id"])
                if len(received) >= total:
                    return
        except BaseException as exc:  # reported by the test below
            failure.append(exc)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    sent = [emit(storage, "acme", "messageNew", {"n": n}).id for n in range(10)]
    _wait_until(lambda: len(received) >= 10, "the first events did not arrive")
    web.stop()
    sent += [emit(storage, "acme", "messageNew", {"n": n}).id for n in range(10, 20)]  # while the server is down
    web.start()
    sent += [emit(storage, "acme", "messageNew", {"n": n}).id for n in range(20, 30)]
    consumer.join(60)
    assert not failure, failure
    assert not consumer.is_alive(), f"{len(received)} of {total} events"
    assert received == sent
    mb.close()
