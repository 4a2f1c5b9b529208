"""One exception tree for everything the client raises; API errors carry the API's ``code``."""

from __future__ import annotations

from typing import Any


class MailbridgeError(Exception):
    """Base of every error the client raises."""


class TransportError(MailbridgeError):
    """The server could not be reached, or the connection broke before an answer."""


class WebhookVerificationError(MailbridgeError):
    """A webhook delivery's signature, timestamp or headers did not verify."""


class ApiError(MailbridgeError):
    """The API answered with an error: ``{"error": {"code", "message", "details"}}``."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class BadRequest(ApiError):
    """400: invalidInput, invalidJson, invalidCursor …"""


class Unauthorized(ApiError):
    """401: no valid token."""


class Forbidden(ApiError):
    """403: insufficientScope (the token lacks the route's scope) or accountRestricted."""


class NotFound(ApiError):
    """404: accountNotFound, messageNotFound, reviewNotFound …"""


class Conflict(ApiError):
    """409: e.g. reviewDecided, or an Idempotency-Key reused with another body."""


class Gone(ApiError):
    """410: e.g. reviewExpired."""


class PayloadTooLarge(ApiError):
    """413."""


class Unprocessable(ApiError):
    """422: authenticationFailed, connectFailed, recipientsSuppressed, rejectedByPolicy …"""


class ServerError(ApiError):
    """5xx."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    422: Unprocessable,
}


def api_error(status: int, body: Any) -> ApiError:
    """The exception for an error answer (a body that is not the API's error shape still gets one)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": "httpError", "message": f"HTTP {status}", "details": None}
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, str(error.get("code")), str(error.get("message", "")), error.get("details"))
