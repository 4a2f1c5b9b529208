"""Run a REST request in-process: the app's own WSGI callable with the caller's token, no socket.

Going through the whole app (routing, the token and scope check, validation, the JSON error
handlers) rather than calling view functions is what makes a tool exactly as permissive as its
route, and no more.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bridge.agents.tools import RestAnswer, RestCall

if TYPE_CHECKING:
    from flask import Flask


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    scheme, _, value = (header or "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


class InProcessApi:
    """The REST API of ``app``, called from this process."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def call(self, token: str, call: RestCall) -> RestAnswer:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if call.body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(call.body)
        # The test client is Werkzeug's WSGI caller: it builds the environ and runs app.wsgi_app with
        # it, the same call gunicorn makes. Loopback as the remote address, as for a local client.
        client = self.app.test_client()
        response = client.open(
            call.path,
            method=call.method,
            query_string=dict(call.query),
            headers=headers,
            data=data,
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        try:
            return RestAnswer(response.status_code, response.content_type or "", response.get_data())
        finally:
            response.close()
