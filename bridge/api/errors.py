"""Every error leaves the API as JSON ``{"error": {"code", "message", "details"}}``.

One handler for the BridgeError tree, one for werkzeug's HTTP errors (404,
405, 413, …), one last resort that logs the traceback and hides it.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.routing.exceptions import WebsocketMismatch

from bridge.errors import BridgeError, UpgradeRequired

log = logging.getLogger(__name__)


def _camel(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    return words[0].lower() + "".join(w.capitalize() for w in words[1:]) if words else "error"


def error_response(status: int, code: str, message: str, details: object = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    return response


def _bridge_error(exc: BridgeError) -> Response:
    if exc.status_code >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    body = jsonify(exc.to_dict())
    body.status_code = exc.status_code
    if isinstance(exc, UpgradeRequired):
        body.headers["Upgrade"] = "websocket"  # RFC 9110 § 15.5.22: a 426 names the protocol
    return body


def _http_error(exc: HTTPException) -> Response:
    if isinstance(exc, WebsocketMismatch):
        # RFC 6455 § 4.1: the stream opens with an Upgrade request. Routing refuses a plain GET before
        # any view or token check runs; say what is missing rather than Werkzeug's bare 400.
        return _bridge_error(UpgradeRequired("open the stream with a WebSocket client (Upgrade: websocket)"))
    status = exc.code or 500
    response = error_response(status, _camel(exc.name), exc.description or exc.name)
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internalError", "internal error; see the server log")


def register(app: Flask) -> None:
    app.register_error_handler(BridgeError, _bridge_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
