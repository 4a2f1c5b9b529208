"""The one exception tree of Mailbridge.

Pure: no I/O. Every error the bridge raises on purpose is a ``BridgeError``;
adapters (storage, imap, smtp, webhooks) translate library exceptions into
one of these with ``raise ... from exc`` so that library types never leak into
``workers/`` or ``bridge/api/``.

::

    BridgeError
    ├── ConfigError               startup only; never reaches HTTP
    ├── ApiError                  carries status_code + stable code string
    │   ├── ValidationError       400 invalidInput (details: field errors)
    │   │   └── InvalidMessage    400 a submitted message cannot be built (header injection …)
    │   ├── Unauthorized          401 unauthorized
    │   ├── Forbidden             403 insufficientScope (the API token lacks the route's scope)
    │   ├── NotFound              404 notFound
    │   ├── MethodNotAllowed      405 methodNotAllowed
    │   ├── Conflict              409 conflict
    │   ├── Gone                  410 gone (a review hold past its expiry)
    │   ├── PayloadTooLarge       413 payloadTooLarge
    │   ├── UnsupportedMediaType  415 unsupportedMediaType (a body that is not JSON)
    │   ├── UpgradeRequired       426 upgradeRequired (a plain GET on the WebSocket stream)
    │   ├── Unprocessable         422 unprocessable
    │   └── ServiceUnavailable    503 serviceUnavailable (transient: accountUnavailable)
    ├── StorageUnavailable        Redis unreachable (transient, 503)
    ├── MailboxError              IMAP side
    │   ├── MailboxAuthFailed     permanent: credentials rejected
    │   └── MailboxUnavailable    transient: connect/timeout/BYE
    │       └── SelectionLost     the server ended a session that kept a folder selected
    ├── SubmissionError           SMTP side
    │   ├── SubmissionAuthFailed  permanent: credentials rejected
    │   ├── SubmissionRejected    permanent (5xx)
    │   └── SubmissionDeferred    transient (4xx, network)
    ├── WebhookDeliveryFailed     transient unless the receiver answers 4xx
    └── TokenError                an OAuth 2.0 access token cannot be obtained
        ├── TokenRevoked          permanent: invalid_grant (revoked, password changed)
        └── TokenUnavailable      transient: token endpoint down or busy

Every error knows its outward form (``status_code``, ``code``, ``to_dict()``)
so the API needs one handler, and knows whether it is ``transient`` so workers
can choose between a retry and a permanent failure.
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    """Base of every error Mailbridge raises on purpose."""

    status_code: int = 500
    code: str = "internalError"
    transient: bool = False

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON error body every API error uses."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
            }
        }


class ConfigError(BridgeError):
    """Raised at startup when a BRIDGE_* variable is missing or malformed."""

    code = "configError"


class ApiError(BridgeError):
    """Raised by API code for a request that cannot be served as asked."""

    status_code = 400
    code = "badRequest"


class ValidationError(ApiError):
    """Raised when a request body, query or path value fails validation."""

    status_code = 400
    code = "invalidInput"


class InvalidMessage(ValidationError):
    """Raised by compose when a message cannot be built as asked (CR/LF in a header, bad Message-ID)."""

    code = "invalidMessage"


class Unauthorized(ApiError):
    """Raised when a request has no valid API token."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """Raised when a valid API token lacks the scope a route needs."""

    status_code = 403
    code = "insufficientScope"


class NotFound(ApiError):
    """Raised when the addressed resource does not exist."""

    status_code = 404
    code = "notFound"


class MethodNotAllowed(ApiError):
    """Raised when the route exists but not for this HTTP method."""

    status_code = 405
    code = "methodNotAllowed"


class Conflict(ApiError):
    """Raised when the request conflicts with existing state (duplicate id, reused key)."""

    status_code = 409
    code = "conflict"


class Gone(ApiError):
    """Raised when the addressed resource existed but can no longer be acted on (an expired review hold)."""

    status_code = 410
    code = "gone"


class PayloadTooLarge(ApiError):
    """Raised when a request body or message exceeds a size limit."""

    status_code = 413
    code = "payloadTooLarge"


class UnsupportedMediaType(ApiError):
    """Raised when a request body comes with a content type other than JSON."""

    status_code = 415
    code = "unsupportedMediaType"


class UpgradeRequired(ApiError):
    """Raised when the WebSocket stream is requested without a WebSocket upgrade."""

    status_code = 426
    code = "upgradeRequired"


class Unprocessable(ApiError):
    """Raised when a well-formed request cannot be carried out (e.g. suppressed recipient)."""

    status_code = 422
    code = "unprocessable"


class ServiceUnavailable(ApiError):
    """Raised when a dependency needed for the request is down."""

    status_code = 503
    code = "serviceUnavailable"
    # Down now, not wrong: the same request may succeed later (a watcher takes the account over, its
    # IMAP server is back). Workers retry on it (workers.mail.file_sent_message), as they do on the
    # same answer relayed from a watcher (bridge.mailbox.protocol.RemoteError: 5xx is transient).
    transient = True


class StorageUnavailable(BridgeError):
    """Raised by storage when Redis cannot be reached or answers with an error."""

    status_code = 503
    code = "storageUnavailable"
    transient = True


class MailboxError(BridgeError):
    """Base for IMAP-side failures; raised itself for a missing folder (folderNotFound)."""

    status_code = 422
    code = "mailboxError"


class MailboxAuthFailed(MailboxError):
    """Raised when the IMAP server rejects the account's credentials."""

    status_code = 422
    code = "authenticationFailed"


class MailboxUnavailable(MailboxError):
    """Raised when the IMAP server cannot be reached, times out or says BYE."""

    status_code = 422
    code = "connectFailed"
    transient = True


class SelectionLost(MailboxUnavailable):
    """Raised when the server ends a command session that kept a folder selected for the next read (Dovecot
    does once another session deletes or renames that folder); the read is run again on a fresh session."""


class SubmissionError(BridgeError):
    """Base for SMTP-side failures."""

    status_code = 502
    code = "submissionError"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        smtp_code: int | None = None,
    ) -> None:
        super().__init__(message, details=details, code=code)
        self.smtp_code = smtp_code


class SubmissionAuthFailed(SubmissionError):
    """Raised when the SMTP server rejects the account's credentials."""

    status_code = 422
    code = "authenticationFailed"


class SubmissionRejected(SubmissionError):
    """Raised when the SMTP server answers a permanent (5xx) error."""

    code = "submissionRejected"


class SubmissionDeferred(SubmissionError):
    """Raised on a transient SMTP failure: 4xx, network error or timeout."""

    status_code = 422
    code = "connectFailed"
    transient = True


class WebhookDeliveryFailed(BridgeError):
    """Raised when a webhook POST fails; transient unless the receiver answered 4xx."""

    code = "webhookDeliveryFailed"

    def __init__(self, message: str, *, transient: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status


class TokenError(BridgeError):
    """Base for OAuth 2.0 token failures; the IMAP and SMTP logins turn it into their auth errors."""

    status_code = 422
    code = "tokenError"


class TokenRevoked(TokenError):
    """Raised when the provider refuses the grant for good (RFC 6749 § 5.2 invalid_grant and kin)."""

    code = "authenticationFailed"


class TokenUnavailable(TokenError):
    """Raised when the token endpoint cannot be reached or answers a transient error."""

    code = "tokenUnavailable"
    transient = True
