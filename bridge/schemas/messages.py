"""The live mailbox API: listings, search, messages, flags, moves, folders, drafts, conversations.

Pure: pydantic only. Message ids are ``bridge.mail.ids`` ids; folder paths are
text (the server's modified UTF-7 is decoded). Shapes follow EmailEngine's where
it has them (``pageSize``, ``nextPageCursor``, ``path``, ``specialUse``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from bridge.mail import ids
from bridge.schemas.common import INTEGRAL, ApiModel, Matching
from bridge.schemas.submit import MessageContent

# RFC 3501 § 9 flag-keyword = atom; system flags start with a backslash. \Recent is read-only.
FLAG_PATTERN = r"^\\?[A-Za-z0-9$_.\-]{1,64}$"
_RECENT = r"^\\[Rr][Ee][Cc][Ee][Nn][Tt]$"
MESSAGE_ID_PATTERN = ids.PATTERN
# nextPageCursor: base64url, as the API returned it.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{8,512}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
# No control characters: each value becomes a quoted IMAP string.
_TEXT = r"^[^\x00-\x1f\x7f]*$"
MAX_BULK_IDS = 1000


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
Path = Annotated[
    str,
    Field(min_length=1, max_length=ids.MAX_FOLDER_BYTES // 4),
    Matching(_TEXT, "'{value}' is not a folder path", "invalidPath"),
]
SearchText = Annotated[
    str, Field(min_length=1, max_length=1024), Matching(_TEXT, "must not contain control characters")
]
MessageIdIn = Annotated[str, Field(max_length=ids.MAX_ID_LENGTH), Matching(MESSAGE_ID_PATTERN, "'{value}' is not a message id", "messageNotFound")]  # fmt: skip
Cursor = Annotated[str, Matching(CURSOR_PATTERN, "cursor is not one this API returned", "invalidCursor")]
Day = Annotated[str, Matching(DATE_PATTERN, "'{value}' is not a date (YYYY-MM-DD or RFC 3339)", "invalidDate")]


class PageQuery(ApiModel):
    path: Path = Field(default="INBOX", description="the folder (text, as GET …/mailboxes names it)")
    page_size: int = Field(default=20, ge=1, le=250)
    page: int = Field(default=0, ge=0, le=1_000_000, description="0 is the newest page")
    cursor: Cursor | None = Field(default=None, description="nextPageCursor of the last page (instead of page)")
    withheld: bool = Field(
        default=False, description="include messages policy held (until approved) or rejected; hidden by default"
    )


HeaderField = Annotated[str, Matching(r"^[!-9;-~]{1,76}$", "'{value}' is not a header name", "invalidHeader")]
HeaderValue = Annotated[str, Field(max_length=1024), Matching(_TEXT, "must not contain control characters")]


class SearchCriteria(ApiModel):
    """IMAP SEARCH on the server (RFC 3501 § 6.4.4); every given criterion must match."""

    from_: SearchText | None = Field(default=None, alias="from")
    to: SearchText | None = None
    cc: SearchText | None = None
    subject: SearchText | None = None
    body: SearchText | None = None
    text: SearchText | None = Field(default=None, description="headers or body")
    since: Day | None = Field(default=None, description="internal date on or after this day")
    before: Day | None = Field(default=None, description="internal date before this day")
    seen: bool | None = None
    flagged: bool | None = None
    answered: bool | None = None
    draft: bool | None = None
    header: dict[HeaderField, HeaderValue] | None = Field(
        default=None,
        max_length=8,
        # The key pattern cannot be said in JSON Schema here; as in SubmitBody.headers, the schema admits no keys.
        json_schema_extra={"additionalProperties": False},
        description="header name -> text it contains",
    )
    uid: Annotated[str, Field(pattern=r"^[0-9*][0-9:,*]{0,200}$")] | None = Field(
        default=None, description="a UID set: 1:5,9"
    )
    larger: Annotated[int, Field(ge=0, le=2**31), INTEGRAL] | None = None
    smaller: Annotated[int, Field(ge=0, le=2**31), INTEGRAL] | None = None
    gmail_raw: SearchText | None = Field(default=None, description="Gmail search syntax (X-GM-RAW), Gmail only")

    def imap(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class SearchBody(ApiModel):
    search: SearchCriteria


class Address(ApiModel):
    name: str
    address: str


class MessageSummary(ApiModel):
    """A message in a listing: envelope fields, read from the server."""

    model_config = ConfigDict(extra="allow")

    id: str
    uid: int
    path: str
    message_id: str | None
    in_reply_to: str | None = None
    from_: Address | None = Field(alias="from")
    to: list[Address]
    cc: list[Address]
    subject: str
    date: str | None
    received_at: str | None
    flags: list[str]
    size: int
    has_attachments: bool
    preview: str


class MessagePage(ApiModel):
    total: int
    page: int
    pages: int
    messages: list[MessageSummary]
    next_page_cursor: str | None


class AttachmentOut(ApiModel):
    id: str
    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    inline: bool


class MessageOut(ApiModel):
    """One message as the server has it now, with what the bridge knows of it (when it saw it)."""

    model_config = ConfigDict(extra="allow")

    id: str
    uid: int
    path: str
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    date: str | None
    received_at: str | None
    from_: Address | None = Field(alias="from")
    to: list[Address]
    cc: list[Address]
    subject: str
    flags: list[str]
    size: int
    text: str | None
    html: str | None
    extracted_text: str | None = Field(description="the new text of a reply: no quoted history, no signature")
    attachments: list[AttachmentOut]
    headers: list[list[str]]
    conversation_id: str | None = None
    auth: dict[str, Any] | None = None
    classification: dict[str, Any] | None = None
    policy: dict[str, Any] | None = Field(
        default=None, description="what the policy decided, when it did not just deliver"
    )


class FlagChanges(ApiModel):
    add: list[Flag] = Field(default_factory=list, max_length=32)
    delete: list[Flag] = Field(default_factory=list, max_length=32)
    set: list[Flag] | None = Field(default=None, max_length=32, description="replace all flags")


LabelName = Annotated[str, Field(min_length=1, max_length=256), Matching(_TEXT, "must not contain control characters")]


class LabelChanges(ApiModel):
    add: list[LabelName] = Field(default_factory=list, max_length=32)
    delete: list[LabelName] = Field(default_factory=list, max_length=32)


class MessageUpdate(ApiModel):
    flags: FlagChanges = Field(default_factory=FlagChanges)
    labels: LabelChanges | None = Field(default=None, description="Gmail labels (X-GM-EXT-1 servers only)")


class FlagsOut(ApiModel):
    model_config = ConfigDict(extra="allow")

    id: str
    flags: list[str]


class MoveBody(ApiModel):
    path: Path = Field(description="the target folder")


class Moved(ApiModel):
    id: str | None = Field(description="the message's id in the target folder (null if the server does not say)")
    path: str
    uid: int | None


class DeleteQuery(ApiModel):
    force: bool = Field(default=False, description="expunge instead of moving to Trash")


class MessageDeleted(ApiModel):
    id: str
    deleted: bool = True
    moved_to: str | None = Field(description="the Trash folder, or null when expunged")


class BulkQuery(ApiModel):
    path: Path = Field(default="INBOX", description="the folder a search runs in")


class _Selection(ApiModel):
    # Exactly one of the two (null counts as absent), as the validator below says.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["ids"], "properties": {"ids": {"type": "array"}}},
                {"required": ["search"], "properties": {"search": {"type": "object"}}},
            ]
        }
    )

    ids: list[MessageIdIn] | None = Field(default=None, max_length=MAX_BULK_IDS)
    search: SearchCriteria | None = None

    @model_validator(mode="after")
    def _one(self) -> _Selection:
        if (self.ids is None) == (self.search is None):
            raise ValueError("give either ids or search")
        return self

    def selection(self, path: str) -> dict[str, Any]:
        if self.ids is not None:
            return {"ids": list(self.ids)}
        return {"path": path, "search": (self.search or SearchCriteria()).imap()}


class BulkFlags(_Selection):
    flags: FlagChanges


class BulkMove(_Selection):
    path: Path = Field(description="the target folder")


class BulkDelete(_Selection):
    force: bool = False


class BulkMessage(ApiModel):
    model_config = ConfigDict(extra="allow")

    id: str


class BulkResult(ApiModel):
    messages: list[BulkMessage]
    moved_to: str | None = None


class MailboxesQuery(ApiModel):
    counters: bool = Field(default=False, description="add STATUS counters (messages, unseen)")


class MailboxStatus(ApiModel):
    messages: int
    unseen: int


class MailboxOut(ApiModel):
    path: str
    name: str
    delimiter: str | None
    flags: list[str]
    special_use: str | None
    status: MailboxStatus | None = None


class MailboxList(ApiModel):
    mailboxes: list[MailboxOut]


class MailboxCreate(ApiModel):
    path: Path


class MailboxRename(ApiModel):
    path: Path
    new_path: Path


class MailboxQuery(ApiModel):
    path: Path


class MailboxChanged(ApiModel):
    model_config = ConfigDict(extra="allow")

    path: str


class DraftBody(MessageContent):
    """POST …/message: the submit body, stored on the server instead of sent (default: Drafts, with \\Draft)."""

    path: Path | None = Field(default=None, description="the folder; default the \\Drafts folder, flagged \\Draft")
    flags: list[Flag] = Field(default_factory=list, max_length=32)


class DraftStored(ApiModel):
    id: str | None
    path: str
    uid: int | None
    message_id: str


class ConversationOut(ApiModel):
    conversation_id: str
    messages: list[MessageOut]
