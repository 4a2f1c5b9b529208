"""Submit and outbox resources: the EmailEngine-compatible submit body, its answer, outbox entries.

Pure: pydantic only. Every check a user can act on happens here, so a bad
request is refused before anything is stored or queued: each bad address is
named (flanker's parser, via ``bridge.mail.addresses``), a line break in any value
that becomes a header is refused (header injection), attachment content must
be valid base64. Size limits on the whole message (413) are compose's job.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bridge.compose.build import RESERVED_HEADERS
from bridge.compose.model import Action, Attachment, Mailbox
from bridge.mail import ids
from bridge.schemas.accounts import ACCOUNT_ID_PATTERN
from bridge.schemas.common import INTEGRAL, NO_CONTROLS_PATTERN, ApiModel, DateTime, EmailAddress, Matching

MAX_RECIPIENTS_PER_FIELD = 500
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
# RFC 5322 § 3.6.4 msg-id, angle brackets optional: what compose.own_message_id takes.
_MESSAGE_ID_PATTERN = r"^<?[!-;=?A-~]+@[!-;=?A-~]+>?$"
# Extra headers may not be ones compose sets from body fields (From, To, Subject, …); any case.
_RESERVED_PATTERN = (
    "^(?:"
    + "|".join("".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in name) for name in sorted(RESERVED_HEADERS))
    + ")$"
)
# RFC 4648 § 4 base64, whitespace allowed anywhere (RFC 2045 line-wrapped content is common and
# whitespace is not data): exactly what _base64 decodes.
_B64_PATTERN = (
    r"^[ \t\r\n]*(?:(?:[A-Za-z0-9+/][ \t\r\n]*){4})*"
    r"(?:(?:[A-Za-z0-9+/][ \t\r\n]*){2}=[ \t\r\n]*=|(?:[A-Za-z0-9+/][ \t\r\n]*){3}=)?[ \t\r\n]*$"
)
_WHITESPACE = re.compile(r"[ \t\r\n]+")
# A Content-ID (RFC 2392) with or without its angle brackets.
_CONTENT_ID_PATTERN = r"^<?[!-;=?-~]+>?$"


def _base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    if _WHITESPACE.search(value):
        value = _WHITESPACE.sub("", value)
    try:
        # a2b_base64 reads an ASCII str as is: no encoded copy of a large attachment.
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not valid base64") from exc


def _not_reserved(name: str) -> str:
    if name.lower() in RESERVED_HEADERS:
        raise PydanticCustomError(
            "invalidHeader", "header '{name}' is set by the bridge; use the body field instead", {"name": name}
        )
    return name


HeaderName = Annotated[
    str,
    Field(json_schema_extra={"not": {"pattern": _RESERVED_PATTERN}}),
    Matching(_HEADER_NAME.pattern, "'{value}' is not a valid header name", "invalidHeader"),
    AfterValidator(_not_reserved),
]


def _content_id(value: str) -> str:
    return value.strip("<>")


def _aware(value: datetime) -> datetime:
    # A sendAt without an offset is read as UTC, as EmailEngine does.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Text that becomes (part of) a header: no control characters but HTAB. CR and LF would inject headers,
# the others are not allowed in a header body (RFC 5322 § 2.2) and make the message unbuildable.
HeaderText = Annotated[
    str, Matching(NO_CONTROLS_PATTERN, "must not contain control characters but tab (header injection)")
]
Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_base64),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str),
    WithJsonSchema({"type": "string", "contentEncoding": "base64", "pattern": _B64_PATTERN}),
]


class AddressIn(ApiModel):
    name: HeaderText = Field(default="", max_length=256)
    address: EmailAddress

    def to_mailbox(self) -> Mailbox:
        return Mailbox(address=self.address, name=self.name)


class AttachmentIn(ApiModel):
    filename: HeaderText | None = Field(default=None, max_length=255)
    content: Base64Bytes = Field(description="The file, base64 encoded")
    content_type: Annotated[str, Field(pattern=_CONTENT_TYPE.pattern)] = "application/octet-stream"
    content_id: (
        Annotated[
            str,
            Matching(_CONTENT_ID_PATTERN, "must be a Content-ID such as 'logo@example.com'"),
            AfterValidator(_content_id),
        ]
        | None
    ) = Field(
        default=None,
        min_length=1,
        max_length=256,
        validation_alias=AliasChoices("contentId", "cid"),
        description="Makes the attachment an inline part that the HTML refers to as cid:<contentId>",
    )

    def to_attachment(self) -> Attachment:
        return Attachment(
            content=self.content, filename=self.filename, content_type=self.content_type, content_id=self.content_id
        )


class ReferenceIn(ApiModel):
    message: str = Field(min_length=1, max_length=128, description="A message id (as in events and listings)")
    action: Literal["reply", "replyAll", "forward"] = "reply"
    inline: bool = Field(default=False, description="Quote the original in the body (a forward attaches it otherwise)")

    def to_action(self) -> Action:
        return Action(self.action)


class MessageContent(ApiModel):
    """What a message to send says and how to send it: the submit body but ``draft`` (POST …/message uses it too)."""

    from_: AddressIn | None = Field(default=None, alias="from", description="Defaults to the account's address")
    to: list[AddressIn] = Field(default_factory=list, max_length=MAX_RECIPIENTS_PER_FIELD)
    cc: list[AddressIn] = Field(default_factory=list, max_length=MAX_RECIPIENTS_PER_FIELD)
    bcc: list[AddressIn] = Field(default_factory=list, max_length=MAX_RECIPIENTS_PER_FIELD)
    reply_to: list[AddressIn] = Field(default_factory=list, max_length=20)
    subject: HeaderText | None = Field(default=None, max_length=4096)
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)
    headers: dict[HeaderName, Annotated[HeaderText, Field(max_length=8192)]] = Field(
        default_factory=dict,
        max_length=100,
        json_schema_extra={"additionalProperties": False},
        description="Extra headers, e.g. List-Unsubscribe",
    )
    reference: ReferenceIn | None = None
    send_at: Annotated[DateTime, AfterValidator(_aware)] | None = Field(
        default=None, description="Send later (ISO 8601)"
    )
    delivery_attempts: Annotated[int, Field(ge=1, le=100), INTEGRAL] = Field(
        default=10, description="Attempts before messageFailed"
    )
    copy_: bool | None = Field(
        default=None, alias="copy", description="Upload to Sent; default: unless the provider files sent mail itself"
    )
    message_id: (
        Annotated[
            str,
            Matching(
                _MESSAGE_ID_PATTERN, "'{value}' is not a Message-ID like <unique@example.com>", "invalidMessageId"
            ),
        ]
        | None
    ) = Field(default=None, max_length=998, description="Your own Message-ID; generated otherwise")
    ignore_suppression: bool = Field(
        default=False, description="Send even to addresses on the suppression list (hard bounces, complaints)"
    )

    def recipient_addresses(self) -> list[str]:
        return [a.address for a in (*self.to, *self.cc, *self.bcc)]

    def has_recipients(self) -> bool:
        return bool(self.to or self.cc or self.bcc)


# What a stored draft already has: with ``draft``, only the sending options may be given
# (lists and objects empty, the rest absent or null). The JSON Schema says the same (if/then).
_DRAFT_LISTS = (("to", "to"), ("cc", "cc"), ("bcc", "bcc"), ("reply_to", "replyTo"), ("attachments", "attachments"))
_DRAFT_NULLS = (("from_", "from"), ("subject", "subject"), ("text", "text"), ("html", "html"),
                ("reference", "reference"), ("message_id", "messageId"))  # fmt: skip
_DRAFT_SCHEMA: dict[str, Any] = {
    "if": {"properties": {"draft": {"type": "string"}}, "required": ["draft"]},
    "then": {
        "properties": {
            **{alias: {"maxItems": 0} for _, alias in _DRAFT_LISTS},
            **{alias: {"type": "null"} for _, alias in _DRAFT_NULLS},
            "headers": {"maxProperties": 0},
        }
    },
}


class SubmitBody(MessageContent):
    """POST /v1/account/{account}/submit (EmailEngine's field names)."""

    model_config = ConfigDict(json_schema_extra=_DRAFT_SCHEMA)

    draft: Annotated[str, Matching(ids.PATTERN, "'{value}' is not a message id", "messageNotFound")] | None = Field(
        default=None,
        max_length=ids.MAX_ID_LENGTH,
        description="Send this stored draft (POST …/message) as it is, and remove it; no message fields with it",
    )

    @model_validator(mode="after")
    def _draft_alone(self) -> SubmitBody:
        given = [alias for name, alias in _DRAFT_LISTS if getattr(self, name)]
        given += [alias for name, alias in _DRAFT_NULLS if getattr(self, name) is not None]
        given += ["headers"] if self.headers else []
        if self.draft is not None and given:
            raise PydanticCustomError(
                "draftWithContent", "a draft is sent as stored; leave out {fields}", {"fields": ", ".join(given)}
            )
        return self


class SubmitAccepted(ApiModel):
    response: str = "Queued for delivery"
    message_id: str
    queue_id: str
    send_at: str


class OutboxError(ApiModel):
    message: str
    code: str | None = None
    smtp_code: int | None = None
    at: str | None = None


class OutboxEntryOut(ApiModel):
    queue_id: str
    account: str
    state: str = Field(description="queued, scheduled, sending, retrying, sent, failed or cancelled")
    message_id: str
    subject: str
    envelope: dict[str, Any]
    created: str
    send_at: str
    attempts: int
    max_attempts: int
    next_attempt: str | None = None
    last_error: OutboxError | None = None
    response: str | None = None
    sent_at: str | None = None
    possible_duplicate: bool = Field(default=False, description="A worker died after handing the message to SMTP")
    sent_copy: dict[str, Any] | None = Field(
        default=None,
        description='the copy in Sent: {"status": "filed" | "created", "folder", "id"?, "uid"?} or '
        '{"status": "skipped", "reason"}; null until filed (then the messageFiled event says the same)',
    )

    @classmethod
    def of(cls, entry: dict[str, Any]) -> OutboxEntryOut:
        error = entry.get("lastError")
        return cls(
            queue_id=entry["queueId"],
            account=entry["account"],
            state=entry["state"],
            message_id=entry["messageId"],
            subject=entry.get("subject", ""),
            envelope=entry.get("envelope", {}),
            created=entry["created"],
            send_at=entry["sendAt"],
            attempts=int(entry.get("attempts", 0)),
            max_attempts=int(entry.get("maxAttempts", 0)),
            next_attempt=entry.get("nextAttempt") or None,
            last_error=OutboxError.model_validate(error) if error else None,
            response=entry.get("response") or None,
            sent_at=entry.get("sentAt") or None,
            possible_duplicate=bool(entry.get("possibleDuplicate")),
            sent_copy=entry.get("sentCopy") or None,
        )


class OutboxList(ApiModel):
    messages: list[OutboxEntryOut]


class OutboxQuery(ApiModel):
    account: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    limit: int = Field(default=100, ge=1, le=1000)
