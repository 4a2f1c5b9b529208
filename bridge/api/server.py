"""The gunicorn worker of the web role: JSON errors from the server itself, memory that goes back.

``gunicorn.conf.py`` names ``JsonErrorWorker`` as its ``worker_class``. It is
gunicorn's gthread worker (flask-sock needs threads) with two changes:

* Errors gunicorn answers itself, before the app sees a request (request
  line over ``limit_request_line``: 414; too many or too large headers: 431;
  a malformed request line, header or chunk: 400; an unsupported transfer
  coding: 501), leave as the API's JSON error body instead of gunicorn's
  HTML page. gunicorn has no setting for the body of these answers: they
  are written by ``Worker.handle_error`` through ``util.write_error``, so the
  worker overrides ``handle_error`` (statuses as in gunicorn 27.0.1).
* glibc malloc's mmap threshold is pinned. By default it rises to the size
  of the largest block freed (up to 32 MiB), after which the buffers of
  large requests come from the heap arenas (one per thread, and gthread
  has many) and stay in the process: a worker grew from 87 MB to 355 MB
  after a few 30 MB submits and never shrank. Pinned, large blocks are
  mapped and unmapped with each request (bench/web_memory.py).

Imports gunicorn, never Flask: the gunicorn master loads this module.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
from typing import Any

from gunicorn import util  # type: ignore[import-untyped]
from gunicorn.http import errors as http_errors  # type: ignore[import-untyped]
from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

# glibc <malloc.h>: mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks of 1 MiB and more (request bodies, decoded attachments, composed messages) are mmapped.
MMAP_THRESHOLD = 1024 * 1024

# Most specific first: InvalidResponseHeader is an InvalidHeader, but the app's fault (500).
_STATUSES: tuple[tuple[type[BaseException], int, str, str], ...] = (
    (http_errors.InvalidResponseHeader, 500, "Internal Server Error", "internalError"),
    (http_errors.InvalidResponseHeaderName, 500, "Internal Server Error", "internalError"),
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uriTooLong"),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "requestHeaderFieldsTooLarge"),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented", "notImplemented"),
    (http_errors.ExpectationFailed, 417, "Expectation Failed", "expectationFailed"),
    (http_errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden"),
    (http_errors.ConfigurationProblem, 500, "Internal Server Error", "internalError"),
    (http_errors.ParseException, 400, "Bad Request", "badRequest"),
)


def error_status(exc: BaseException) -> tuple[int, str, str]:
    """HTTP status, reason phrase and our error code for an error gunicorn met (500 for anything else)."""
    for kind, status, reason, code in _STATUSES:
        if isinstance(exc, kind):
            return status, reason, code
    return 500, "Internal Server Error", "internalError"


def error_response(status: int, reason: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying the API's JSON error body; the connection closes after it."""
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Pin glibc's mmap threshold (which also stops its dynamic rise); False where there is no mallopt."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): nothing to tune
    # Trim the heap top back to the OS above 2× the threshold rather than glibc's 128 KiB default churn.
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * threshold))


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's gthread worker, answering its own errors with the API's JSON error body.

    On SIGTERM (graceful) and SIGINT/SIGQUIT (quick) it first sets the app's ``stopping``
    event: WebSocket handlers never end on their own, so without it gunicorn waits out
    ``graceful_timeout`` and then the arbiter SIGKILLs the worker ("Worker was sent
    SIGKILL! Perhaps out of memory?"), and clients see the TCP connection drop with no
    close frame. With it each stream handler sends a 1001 "going away" close within a
    second and returns, and the worker exits well inside the grace period.
    """

    def init_process(self) -> None:
        pin_mmap_threshold()
        super().init_process()

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._announce_stop()
        super().handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:
        self._announce_stop()
        super().handle_quit(sig, frame)

    def _announce_stop(self) -> None:
        # The app object is wsgi:app, loaded by the worker; its Services carry the event
        # (bridge.api.services). Read through attributes: this module never imports Flask.
        services = getattr(getattr(self, "wsgi", None), "extensions", {}).get("bridge")
        stopping = getattr(services, "stopping", None)
        if stopping is not None:
            stopping.set()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, reason, code = error_status(exc)
        ip = (addr or ("", -1))[0]
        if status < 500:
            self.log.warning("Invalid request from ip=%s: %s", ip, exc)
            message = f"{reason}: {exc}"
        else:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
            message = "internal error; see the server log"
        try:
            util.write_nonblock(client, error_response(status, reason, code, message))
        except Exception:  # noqa: BLE001 - the client may be gone; gunicorn's own handler ignores this too
            self.log.debug("Failed to send error message.")
