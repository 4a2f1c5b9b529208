"""Reading an account's events over plain HTTP: one long poll after a cursor.

Pure: pydantic only. Events themselves are the webhook body (``bridge.events.model``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from bridge.schemas.common import ApiModel, Matching

EVENT_ID_PATTERN = r"^evt_[0-9]{1,19}$"
# The longest a request may wait: under gunicorn's 30 s worker timeout does not matter (gthread
# heartbeats on its own), but proxies commonly cut idle requests at 60-100 s.
MAX_WAIT_S = 60


class EventQuery(ApiModel):
    cursor: (
        Annotated[
            str,
            Matching(EVENT_ID_PATTERN, "cursor must be an event id such as evt_42, not '{value}'", "invalidEventId"),
        ]  # fmt: skip
        | None
    ) = Field(default=None, description="the last event seen (an event id or a previous cursor); absent: from now on")
    event: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{1,40}(,[A-Za-z]{1,40}){0,20}$",
        description="only these event names, comma-separated (e.g. messageNew)",
    )
    timeout: int = Field(default=0, ge=0, le=MAX_WAIT_S, description="seconds to wait when nothing is there yet")
    limit: int = Field(default=100, ge=1, le=500)


class EventPage(ApiModel):
    events: list[dict[str, Any]] = Field(description="events after the cursor, oldest first, as webhook bodies")
    cursor: str = Field(description="pass it back as cursor to continue after these events")
