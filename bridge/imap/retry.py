"""How a watch fails and comes back: what failed (a ``MailboxFault``), when to retry, whether it lives.

No I/O; the clock is read only by ``utc_iso``, for the times reported in account states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.errors import MailboxAuthFailed, MailboxUnavailable
from bridge.imap.handshake import ConnectFailed
from bridge.models import MailboxFault, rfc3339


def backoff_delay(attempt: int, *, base: float, cap: float, rand: float) -> float:
    """Capped exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)].

    Full jitter spreads the reconnects of many accounts after a provider
    outage instead of having them all retry in lockstep.
    """
    return rand * min(cap, base * 2.0 ** min(attempt, 30))


class ConnectionLost(MailboxUnavailable):
    """Raised when the IMAP connection closes under the watcher."""


@dataclass(slots=True)
class Liveness:
    """What a watch is doing, since when (event-loop time) and how long that may take."""

    doing: str = "starting"
    since: float = 0.0
    allowed: float = math.inf

    def overdue(self, now: float) -> float:
        """Seconds past the time by which the watch should have shown a sign of life (<= 0: none)."""
        return now - self.since - self.allowed


def fault_of(exc: BaseException) -> MailboxFault:
    """What kind of failure ended a session, for the account's state."""
    if isinstance(exc, ConnectFailed):
        return exc.fault
    if isinstance(exc, MailboxAuthFailed):
        return MailboxFault.AUTHENTICATION_FAILED
    if isinstance(exc, TimeoutError):  # before OSError, of which it is a subclass
        return MailboxFault.COMMAND_TIMEOUT
    if isinstance(exc, ConnectionLost | OSError):
        return MailboxFault.CONNECTION_LOST
    return MailboxFault.SERVER_ERROR


def utc_iso(seconds_from_now: float = 0.0) -> str:
    """RFC 3339 UTC time, with milliseconds, like every other time the bridge reports."""
    return rfc3339(datetime.now(UTC) + timedelta(seconds=seconds_from_now))
