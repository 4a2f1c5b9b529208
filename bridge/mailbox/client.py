"""The web side of mailbox commands: send one to the watcher holding the account, wait for its answer.

I/O adapter (Redis through ``bridge.storage.commands``), synchronous for Flask views.
Two waits: the holder answers, or acknowledges a command that takes longer (after 0.5 s),
within ``ack_timeout_s`` (else it is not alive: ``503 accountUnavailable``, no one is
listening); then an acknowledged command's answer comes within ``timeout_s`` (a slow IMAP
server; else ``503 accountUnavailable``, and the holder drops the command when its
deadline passes, so it is not run late).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from bridge.mailbox import protocol
from bridge.mailbox.protocol import ACK, Reply, Request
from bridge.storage import Storage

ACK_TIMEOUT_S = 3.0
TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class MailboxClient:
    storage: Storage
    ack_timeout_s: float = ACK_TIMEOUT_S
    timeout_s: float = TIMEOUT_S

    def call(self, account: str, op: str, args: dict[str, Any], payload: bytes = b"") -> Reply:
        """Run one command on the account's mailbox; the answer, or its error raised (``RemoteError``).

        Raises:
            ServiceUnavailable: code accountUnavailable: no watcher holds the account, or it did not answer in time.
        """
        commands = self.storage.commands
        request = Request(uuid.uuid4().hex, account, op, args, time.time() + self.timeout_s, payload)
        if commands.send_to_holder(account, protocol.encode_request(request), int(self.timeout_s) + 5) is None:
            self.storage.accounts.get(account)  # 404 accountNotFound rather than 503 for no account at all
            raise protocol.unavailable(
                account, "no watcher holds it (is a watcher process running?)", protocol.NOT_WATCHED
            )
        first = self._wait(request.id, self.ack_timeout_s)
        if first is None:
            commands.forget(request.id)
            raise protocol.unavailable(account, "its watcher did not take the command", protocol.NO_ANSWER)
        if first == ACK:
            first = self._wait(request.id, request.expires - time.time())
        if first is None:
            commands.forget(request.id)
            raise protocol.unavailable(account, "its mailbox did not answer in time", protocol.NO_ANSWER)
        reply = protocol.decode_reply(first)
        protocol.raise_for(reply)
        return reply

    def _wait(self, request_id: str, timeout_s: float) -> bytes | None:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            found = self.storage.commands.wait(request_id, max(0.01, left))
            if found is not None:
                return found
