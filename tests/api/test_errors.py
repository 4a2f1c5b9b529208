"""Every error is JSON {"error": {"code", "message", "details"}} with the right status."""

from __future__ import annotations

import pytest


def _is_error_body(resp, status: int, code: str) -> None:
    assert resp.status_code == status
    assert resp.is_json
    assert set(resp.json) == {"error"}
    assert set(resp.json["error"]) == {"code", "message", "details"}
    assert resp.json["error"]["code"] == code
    assert resp.json["error"]["message"]


def test_unknown_route_is_json_404(client, auth):
    _is_error_body(client.get("/v1/nothing-here", headers=auth), 404, "notFound")
    _is_error_body(client.get("/nothing-here"), 404, "notFound")


def test_wrong_method_is_json_405_with_allow(client, auth):
    resp = client.patch("/v1/accounts", headers=auth)
    _is_error_body(resp, 405, "methodNotAllowed")
    assert "POST" in resp.headers["Allow"]


def test_malformed_json_is_400(client, auth):
    resp = client.post("/v1/accounts", data=b'{"account": ', headers=auth, content_type="application/json")
    _is_error_body(resp, 400, "invalidJson")


def test_empty_body_is_400(client, auth):
    _is_error_body(client.post("/v1/accounts", headers=auth), 400, "invalidJson")


def test_json_that_is_not_an_object_is_invalid_input(client, auth):
    _is_error_body(client.post("/v1/accounts", json=[1, 2], headers=auth), 400, "invalidInput")


def test_oversized_body_is_413(client, auth):
    huge = b'{"account": "' + b"a" * (37 * 1024 * 1024) + b'"}'
    resp = client.post("/v1/accounts", data=huge, headers=auth, content_type="application/json")
    _is_error_body(resp, 413, "requestEntityTooLarge")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer mb_wrong"}],
)
def test_v1_requires_a_valid_token(client, headers):
    _is_error_body(client.get("/v1/accounts", headers=headers), 401, "unauthorized")


def test_revoked_token_stops_working(client, storage):
    record, token = storage.tokens.create("short-lived")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/accounts", headers=headers).status_code == 200
    storage.tokens.revoke(record.id)
    _is_error_body(client.get("/v1/accounts", headers=headers), 401, "unauthorized")


def test_token_is_stored_only_as_a_hash(storage, redis_client):
    _, token = storage.tokens.create("hash check")
    for key in redis_client.scan_iter("*"):
        assert token.encode() not in key
        if redis_client.type(key) == b"hash":
            assert all(token.encode() not in v for v in redis_client.hgetall(key).values())
        elif redis_client.type(key) == b"string":
            assert token.encode() not in redis_client.get(key)


def test_token_last_used_is_recorded(client, storage, auth):
    client.get("/v1/accounts", headers=auth)
    assert storage.tokens.list()[0].last_used is not None
