"""Fuzz every operation of /openapi.json against the app (schemathesis, in-process WSGI, real Redis).

Both directions of "the schema says what validation enforces": a request the
schema allows must not be refused as invalid (positive data acceptance: 400
fails), a request the schema forbids must be refused (negative data
rejection), no request gets a 5xx, and every answer matches the schema of its
status. Deterministic: derandomized, a fixed number of examples per operation,
no example database on disk.

Requests that would reach a mail server get a host and port where nothing
listens (a positive ``imap``/``smtp`` object otherwise names random hosts, and
a random port on 127.0.0.1 may be one of the test servers'), so the answer is
a quick 422 connectFailed, which the schema cannot foresee and which is allowed.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from bridge.config import Secret, Settings
from tests.api.conftest import TEST_SECRET

# Hypothesis keeps caches (constants, unicode data) in its home directory: not in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "mailbridge-hypothesis")
EXAMPLES = 25
# Outcomes of a valid request that depend on state or on the network, not on the schema.
ACCEPTED = ["2XX", "401", "404", "409", "410", "422"]
REJECTED = ["400", "401", "404", "413", "415", "422"]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load_schema() -> schemathesis.BaseSchema:
    """The document as the app serves it; building it touches no Redis, so collection needs no server."""
    with tempfile.TemporaryDirectory() as tmp:
        settings_ = Settings(secret=Secret(TEST_SECRET), redis_url="redis://127.0.0.1:1/0", data_dir=Path(tmp))
        document = create_app(settings_).test_client().get("/openapi.json").get_json()
    config = schemathesis.Config.from_dict(
        {
            "seed": 1,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
        }
    )
    # The WebSocket stream needs an upgrade the WSGI test client cannot do: test_stream.py covers it
    # with a real server. The OAuth2 sign-in pages (/oauth/start, /oauth/callback) take a signed,
    # single-use state no generated request can carry, so every one is refused: tests/oauth drives
    # them through a real authorization server instead.
    return schemathesis.openapi.from_dict(document, config=config).exclude(path_regex="/stream$|^/oauth/")


schema = _load_schema()


def _unreachable_servers(body: Any, port: int) -> None:
    if not isinstance(body, dict):
        return
    for side in ("imap", "smtp"):
        server = body.get(side)
        if isinstance(server, dict):
            server["host"], server["port"] = "127.0.0.1", port


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_to_its_schema(case, app, token, closed_port):
    if case.meta is not None and case.meta.generation.mode.is_positive:
        _unreachable_servers(case.body, closed_port)
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            positive_data_acceptance,
            negative_data_rejection,
        ],
    )
