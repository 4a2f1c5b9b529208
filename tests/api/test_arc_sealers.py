"""``trustedArcSealers`` on the accounts API: accepted, normalised, validated, stored, documented."""

from __future__ import annotations

import pytest


def test_create_normalises_and_get_returns_the_sealers(client, auth, account_body):
    body = account_body(verify=False, trustedArcSealers=["Google.com.", "microsoft.com", "google.com"])
    resp = client.post("/v1/accounts", json=body, headers=auth)
    assert resp.status_code == 201, resp.json
    assert resp.json["trustedArcSealers"] == ["google.com", "microsoft.com"]
    assert client.get("/v1/account/acme", headers=auth).json["trustedArcSealers"] == ["google.com", "microsoft.com"]
    [listed] = client.get("/v1/accounts", headers=auth).json["accounts"]
    assert listed["trustedArcSealers"] == ["google.com", "microsoft.com"]


def test_default_is_empty_and_update_replaces_keeps_and_clears(client, auth, account_body):
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    assert client.get("/v1/account/acme", headers=auth).json["trustedArcSealers"] == []

    resp = client.put("/v1/account/acme", json={"trustedArcSealers": ["lists.example.org"]}, headers=auth)
    assert resp.status_code == 200, resp.json
    assert resp.json["trustedArcSealers"] == ["lists.example.org"]
    # Absent keeps the stored list, as for every other field.
    assert client.put("/v1/account/acme", json={"name": "Renamed"}, headers=auth).json["trustedArcSealers"] == [
        "lists.example.org"
    ]
    assert client.put("/v1/account/acme", json={"trustedArcSealers": []}, headers=auth).json["trustedArcSealers"] == []
    assert client.get("/v1/account/acme", headers=auth).json["trustedArcSealers"] == []


@pytest.mark.parametrize(
    "sealers",
    [
        ["com"],  # a public suffix would trust every sealer under it
        ["co.uk"],
        ["github.io"],
        ["localhost"],  # not a domain name with a dot
        ["192.0.2.1"],
        ["bad name.example"],
        ["*.google.com"],
        [""],
        "google.com",  # not a list
        ["a.example"] * 65,
    ],
)
def test_invalid_sealers_are_refused_naming_the_field(client, auth, account_body, sealers):
    resp = client.post("/v1/accounts", json=account_body(verify=False, trustedArcSealers=sealers), headers=auth)
    assert resp.status_code == 400, resp.json
    assert resp.json["error"]["code"] == "invalidInput"
    assert any(d["field"].startswith("trustedArcSealers") for d in resp.json["error"]["details"])
    assert client.get("/v1/account/acme", headers=auth).status_code == 404


def test_update_refuses_invalid_sealers_and_keeps_the_stored_ones(client, auth, account_body):
    body = account_body(verify=False, trustedArcSealers=["google.com"])
    assert client.post("/v1/accounts", json=body, headers=auth).status_code == 201
    resp = client.put("/v1/account/acme", json={"trustedArcSealers": ["com"]}, headers=auth)
    assert resp.status_code == 400
    assert client.get("/v1/account/acme", headers=auth).json["trustedArcSealers"] == ["google.com"]


def test_openapi_documents_trusted_arc_sealers(client):
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    for name in ("AccountCreate", "AccountUpdate"):
        prop = schemas[name]["properties"]["trustedArcSealers"]
        assert "ARC" in prop["description"]
        [listed] = [option for option in prop["anyOf"] if option.get("type") == "array"]
        assert listed["items"]["type"] == "string" and listed["maxItems"] == 64
    out = schemas["AccountOut"]
    assert out["properties"]["trustedArcSealers"]["type"] == "array"
    assert "trustedArcSealers" in out["required"]
