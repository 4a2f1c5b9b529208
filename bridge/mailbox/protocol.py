"""How mailbox commands and their answers are framed on Redis.

Pure. A frame is a JSON head, a newline, then optional raw bytes (a message
source, an attachment, a draft to APPEND): JSON never carries a raw newline
(``json.dumps`` escapes it), so the first newline ends the head, and a 25 MB
source crosses as it is, not base64-inflated by a third.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import BridgeError, ServiceUnavailable

ACK = b"ack"


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    account: str
    op: str
    args: dict[str, Any]
    expires: float  # epoch seconds: the asker stops waiting then, so the command is not run after it
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class Reply:
    result: Any = None
    payload: bytes = b""
    error: dict[str, Any] | None = field(default=None)


class RemoteError(BridgeError):
    """An error the watcher answered with, raised again in the web process with its status and code."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details=details, code=code)
        self.status_code = status
        self.transient = status >= 500


# Why an account's mailbox cannot answer now (``details.reason`` of ``503 accountUnavailable``).
NOT_WATCHED = "notWatched"  # no watcher holds its lease (none runs, or it moved or stopped)
MAILBOX_DOWN = "mailboxDown"  # its watcher holds it, but has no working connection to the IMAP server now
NO_ANSWER = "noAnswer"  # its watcher took the command but did not answer in time


def unavailable(account: str, why: str, reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"account {account!r} cannot be reached now: {why}",
        code="accountUnavailable",
        details={"account": account, "reason": reason},
    )


def unserved(exc: BridgeError) -> bool:
    """Whether the error says no watcher has a working connection to the account's IMAP server now.

    Then logging in from elsewhere adds nothing to the account's connections: its watcher holds none
    (what ``bridge.accounts.connectivity`` relies on before it logs in itself).
    """
    reason = exc.details.get("reason") if isinstance(exc.details, dict) else None
    return exc.code == "accountUnavailable" and reason in (NOT_WATCHED, MAILBOX_DOWN)


def _frame(head: dict[str, Any], payload: bytes) -> bytes:
    return json.dumps(head, separators=(",", ":")).encode() + b"\n" + payload


def _split(frame: bytes) -> tuple[dict[str, Any], bytes]:
    head, _, payload = frame.partition(b"\n")
    found: dict[str, Any] = json.loads(head)
    return found, payload


def encode_request(request: Request) -> bytes:
    head = {"id": request.id, "account": request.account, "op": request.op, "args": request.args,
            "expires": request.expires}  # fmt: skip
    return _frame(head, request.payload)


def decode_request(frame: bytes) -> Request:
    head, payload = _split(frame)
    return Request(head["id"], head["account"], head["op"], head["args"], float(head["expires"]), payload)


def encode_reply(reply: Reply) -> bytes:
    head: dict[str, Any] = {"error": reply.error} if reply.error is not None else {"result": reply.result}
    return _frame(head, reply.payload)


def error_reply(exc: BridgeError) -> Reply:
    return Reply(error={"status": exc.status_code, "code": exc.code, "message": exc.message, "details": exc.details})


def decode_reply(frame: bytes) -> Reply:
    head, payload = _split(frame)
    return Reply(result=head.get("result"), payload=payload, error=head.get("error"))


def raise_for(reply: Reply) -> None:
    if reply.error is not None:
        err = reply.error
        raise RemoteError(int(err["status"]), str(err["code"]), str(err["message"]), err.get("details"))
