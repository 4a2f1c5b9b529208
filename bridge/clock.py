"""The clock seam: ``Clock`` is what code that needs the time takes; ``SystemClock`` is the real one.

Long-running parts (the webhook dispatcher, emit, workers) take a ``Clock``
so tests can drive time without sleeping or patching. Pure modules never take
a clock: they take ``now`` as a value. Times are written with
``bridge.models.rfc3339``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where the current time comes from."""

    def time(self) -> float:
        """Epoch seconds."""
        ...

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The host's clock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK: Clock = SystemClock()
