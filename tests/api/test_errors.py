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


def test_token_in_the_query_string_is_refused_on_rest_routes(client, token):
    resp = client.get(f"/v1/accounts?access_token={token}")
    _is_error_body(resp, 401, "tokenInQuery")
    assert "Authorization" in resp.json["error"]["message"]


def test_token_in_the_query_string_is_refused_even_next_to_a_header(client, token, auth):
    """The URL already carries the secret into logs: the client should hear about it at once."""
    _is_error_body(client.get(f"/v1/accounts?access_token={token}", headers=auth), 401, "tokenInQuery")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_body_that_is_not_json_is_415(client, auth, content_type):
    resp = client.post(
        "/v1/webhooks", data=b'{"url": "https://example.com/hook"}', headers=auth, content_type=content_type
    )
    _is_error_body(resp, 415, "unsupportedMediaType")
    assert client.get("/v1/webhooks", headers=auth).json["webhooks"] == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/hook+json"]
)
def test_json_content_types_are_taken(client, auth, content_type):
    resp = client.post(
        "/v1/webhooks", data=b'{"url": "https://example.com/hook"}', headers=auth, content_type=content_type
    )
    assert resp.status_code == 201, resp.json


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_400_not_a_recursion_error(client, auth, opener):
    closer = "]" if opener == "[" else "}"
    deep = (opener * 100_000 + "1" + closer * 100_000).encode()
    resp = client.post("/v1/webhooks", data=deep, headers=auth, content_type="application/json")
    _is_error_body(resp, 400, "invalidInput")
    assert "nested" in resp.json["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(client, auth):
    body = b'{"url": "https://example.com/hook?q=' + b"%5B" * 10 + b'", "events": null}'
    assert client.post("/v1/webhooks", data=body, headers=auth, content_type="application/json").status_code == 201
    text = ("[" * 1000).encode()
    body = b'{"url": "https://example.com/' + text.replace(b"[", b"a") + b'"}'
    assert client.post("/v1/webhooks", data=body, headers=auth, content_type="application/json").status_code == 201


def test_strict_types_in_bodies(client, auth):
    """The schema says boolean and integer: 0 is no boolean, "993" is no integer; 443.0 is an integer in JSON."""
    resp = client.post(
        "/v1/verifyAccount", json={"imap": {"host": "h", "port": "993", "auth": {"user": "u"}}}, headers=auth
    )
    _is_error_body(resp, 400, "invalidInput")
    assert resp.json["error"]["details"][0]["field"] == "imap.port"
    resp = client.post(
        "/v1/verifyAccount", json={"imap": {"host": "h", "port": 993, "secure": 0, "auth": {"user": "u"}}}, headers=auth
    )
    _is_error_body(resp, 400, "invalidInput")
    assert resp.json["error"]["details"][0]["field"] == "imap.secure"
