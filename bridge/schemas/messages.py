"""Stored messages: listing, the full record, flag changes.

The record itself is built in ``bridge.inbound.records`` (one shape for REST, webhooks
and streams); these models describe it for validation and the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field

from bridge.schemas.common import ApiModel, DateTime, Matching

# RFC 3501 § 9 flag-keyword = atom; system flags start with a backslash. \Recent is read-only.
FLAG_PATTERN = r"^\\?[A-Za-z0-9$_.\-]{1,64}$"
_RECENT = r"^\\[Rr][Ee][Cc][Ee][Nn][Tt]$"


def _not_recent(value: str) -> str:
    if re.match(_RECENT, value):
        raise ValueError(f"{value!r} is read-only (RFC 3501 § 2.3.2); set e.g. \\Seen, \\Flagged or $Label")
    return value


Flag = Annotated[
    str,
    Field(json_schema_extra={"not": {"pattern": _RECENT}}),
    Matching(FLAG_PATTERN, "'{value}' is not a flag that can be set (e.g. \\Seen, \\Flagged, $Label)"),
    AfterValidator(_not_recent),
]
# nextCursor of a listing: "<score>.<message id>".
MESSAGE_CURSOR_PATTERN = r"^[0-9]{1,19}\.[A-Za-z0-9_-]{1,64}$"


class MessageQuery(ApiModel):
    folder: str | None = None
    from_: str | None = Field(default=None, alias="from", description="sender address, case-insensitive")
    conversation_id: str | None = None
    since: DateTime | None = Field(default=None, description="received at or after (RFC 3339; no offset means UTC)")
    withheld: bool = Field(
        default=False, description="include messages policy held (until approved) or rejected; hidden by default"
    )
    limit: int = Field(default=20, ge=1, le=250)
    cursor: (
        Annotated[str, Matching(MESSAGE_CURSOR_PATTERN, "cursor is not one this API returned", "invalidCursor")] | None
    ) = Field(default=None, description="nextCursor of the last page")


class Address(ApiModel):
    name: str
    address: str


class AttachmentOut(ApiModel):
    id: str
    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    inline: bool


class MessageSummary(ApiModel):
    """A message in listings: the record without bodies and header list (see bridge.inbound.records)."""

    model_config = ConfigDict(extra="allow")

    id: str
    account: str
    folder: str
    uid: int
    message_id: str | None
    conversation_id: str
    date: str | None
    received_at: str
    from_: Address | None = Field(alias="from")
    to: list[Address]
    cc: list[Address]
    subject: str
    attachments: list[AttachmentOut]
    size: int
    body_sha256: str
    flags: list[str]
    parse_errors: list[str]
    auth: dict[str, Any] | None = None
    classification: dict[str, Any] | None = None
    auto_reply: bool = False


class MessageRecord(MessageSummary):
    """The full stored record, with ``text``, ``html``, ``headers``, ``auth`` and ``classification``."""

    text: str | None
    html: str | None
    headers: list[list[str]]


class MessageList(ApiModel):
    messages: list[MessageSummary]
    next_cursor: str | None


class FlagChanges(ApiModel):
    add: list[Flag] = Field(default_factory=list, max_length=32)
    delete: list[Flag] = Field(default_factory=list, max_length=32)


class MessageUpdate(ApiModel):
    flags: FlagChanges


class FlagsOut(ApiModel):
    id: str
    flags: list[str]


class DeleteQuery(ApiModel):
    force: bool = Field(default=False, description="expunge instead of moving to Trash")


class MessageDeleted(ApiModel):
    id: str
    deleted: bool = True
    moved_to: str | None = Field(description="the Trash folder, or null when expunged")
