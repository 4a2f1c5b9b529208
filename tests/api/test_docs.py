"""The API reference: every operation has examples and exactly one tag; the assets are local."""

from __future__ import annotations

import json
from collections import Counter

import pytest


def _operations(spec):
    return [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()]


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json


def _body_models(app):
    models = {}
    for rule in app.url_map.iter_rules():
        op = getattr(app.view_functions.get(rule.endpoint), "__openapi__", None)
        if op is not None and op.body is not None:
            models[op.body.__name__] = op.body
    return models


def test_every_operation_has_exactly_one_tag_and_every_tag_is_listed_once(spec):
    ops = _operations(spec)
    assert all(len(op["tags"]) == 1 for _, _, op in ops)
    listed = [t["name"] for t in spec["tags"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == {op["tags"][0] for _, _, op in ops}
    assert all(t["description"] for t in spec["tags"])


def test_every_operation_has_an_example_for_each_parameter_body_and_response(spec):
    for method, path, op in _operations(spec):
        where = f"{method.upper()} {path}"
        examples = 0
        for param in op["parameters"]:
            assert param.get("example") is not None, (where, param["name"])
            examples += 1
        if "requestBody" in op:
            assert "example" in op["requestBody"]["content"]["application/json"], where
            examples += 1
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                assert content.get("example") is not None, (where, status, media)
                examples += 1
        assert examples, where


def test_request_examples_are_requests_the_api_accepts(app, spec):
    # An example that the API would refuse with 400 is worse than none.
    models = _body_models(app)
    checked = Counter()
    for _, _, op in _operations(spec):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        name = body["schema"]["$ref"].rsplit("/", 1)[-1]
        models[name].model_validate_json(json.dumps(body["example"]), strict=True)
        checked[name] += 1
    assert {"AccountCreate", "SubmitBody", "WebhookCreate", "TokenCreate"} <= set(checked)


def test_error_examples_are_error_bodies(spec):
    post = spec["paths"]["/v1/accounts"]["post"]["responses"]
    assert post["401"]["content"]["application/json"]["example"]["error"]["code"] == "unauthorized"
    assert post["400"]["content"]["application/json"]["example"]["error"]["code"] == "invalidInput"


def test_docs_page_and_its_assets_are_served_from_here(client):
    resp = client.get("/docs")
    assert resp.status_code == 200 and "text/html" in resp.content_type
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    html = resp.get_data(as_text=True)
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "docs.js", "LICENSE"):
        asset = client.get(f"/docs/assets/{name}")
        try:
            assert asset.status_code == 200, name
            assert asset.data
        finally:
            asset.close()  # a file response: close it, or its file is left open
    assert client.get("/docs/assets/swagger-ui.js.map").status_code == 404
    assert client.get("/docs/assets/..%2Fmeta.py").status_code == 404
