"""Health, the OpenAPI document and the docs page."""

from __future__ import annotations

import socket

from openapi_spec_validator import validate

from app import create_app
from bridge.config import Secret, Settings


def test_health_is_200_with_redis_up(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok"
    assert resp.json["redis"]["ok"] is True
    # No worker or watcher runs in this test; health says so rather than lying.
    assert resp.json["workers"] == {"ok": False, "detail": None, "count": 0}


def test_health_is_503_when_redis_is_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(secret=Secret("x" * 32), redis_url=f"redis://127.0.0.1:{port}/0", data_dir=tmp_path)
    resp = create_app(settings).test_client().get("/health")
    assert resp.status_code == 503
    assert resp.json["status"] == "unavailable"
    assert resp.json["redis"]["ok"] is False


def test_openapi_is_a_valid_3_1_document_covering_every_route(app, client):
    spec = client.get("/openapi.json").json
    validate(spec)  # raises on an invalid OpenAPI 3.1 document
    assert spec["openapi"] == "3.1.0"
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in documented


def test_openapi_describes_the_error_body_and_bearer_auth(client):
    spec = client.get("/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    create = spec["paths"]["/v1/accounts"]["post"]
    assert create["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "AccountCreate" in create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    props = spec["components"]["schemas"]["AccountCreate"]["properties"]
    assert "trustedReceivers" in props  # camelCase as on the wire


def test_docs_page_lists_the_operations(client):
    resp = client.get("/docs")
    assert resp.status_code == 200
    assert "text/html" in resp.content_type
    html = resp.get_data(as_text=True)
    assert "/v1/accounts" in html
    assert "Attach an account" in html
