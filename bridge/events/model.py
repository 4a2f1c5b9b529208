"""Events: names, the envelope, and event ids.

Pure: no I/O. An event is ``{"id", "event", "account", "date", "data"}``
(names follow EmailEngine where it has one). Event ids are ``evt_<n>`` where
``n`` comes from one global counter, so an id is unique across accounts (a
Standard Webhooks ``webhook-id`` must be) and also orders the account's
stream, which is what lets a WebSocket client resume with ``?since=<id>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

EVENT_ID_PREFIX = "evt_"
_EVENT_ID = re.compile(rf"^{EVENT_ID_PREFIX}([1-9][0-9]{{0,18}})$")


class EventName(StrEnum):
    MESSAGE_NEW = "messageNew"
    MESSAGE_DELETED = "messageDeleted"
    MESSAGE_UPDATED = "messageUpdated"
    MESSAGE_BOUNCE = "messageBounce"
    MESSAGE_COMPLAINT = "messageComplaint"
    MESSAGE_SENT = "messageSent"
    MESSAGE_FILED = "messageFiled"  # after messageSent: what became of the Sent copy (and the reply's flag)
    MESSAGE_DELIVERY_ERROR = "messageDeliveryError"
    MESSAGE_FAILED = "messageFailed"
    MAILBOX_RESET = "mailboxReset"
    REVIEW_PENDING = "reviewPending"
    REVIEW_APPROVED = "reviewApproved"
    REVIEW_REJECTED = "reviewRejected"
    REVIEW_EXPIRED = "reviewExpired"
    ACCOUNT_CONNECTED = "accountConnected"
    AUTHENTICATION_ERROR = "authenticationError"
    CONNECT_ERROR = "connectError"


@dataclass(frozen=True, slots=True)
class Event:
    """One emitted event; ``seq`` is its position in the global order."""

    seq: int
    event: str
    account: str
    date: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return event_id(self.seq)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body sent to webhooks and WebSocket clients."""
        return {"id": self.id, "event": self.event, "account": self.account, "date": self.date, "data": self.data}


def event_id(seq: int) -> str:
    return f"{EVENT_ID_PREFIX}{seq}"


def parse_event_id(value: str) -> int | None:
    """The sequence number of an event id, or None when it is not one."""
    match = _EVENT_ID.match(value)
    return int(match.group(1)) if match else None
