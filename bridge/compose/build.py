"""Build the RFC 5322 / MIME bytes of an outgoing message from a Draft.

Pure: no I/O, no clock, no randomness of our own (``now`` and a ``unique``
token are passed in; MIME boundaries derive from ``unique`` or the stdlib
picks them). The submit API turns its JSON into a ``Draft``; ``compose``
returns the bytes that are queued,
sent over SMTP and uploaded to Sent unchanged, plus the envelope.

Structure, from the inside out (RFC 2046, RFC 2387)::

    multipart/mixed                      only with attachments or a forwarded original
    ├── multipart/alternative            only with both text and html
    │   ├── text/plain
    │   └── multipart/related            only with inline (cid:) images
    │       ├── text/html
    │       └── image/png  Content-ID
    ├── application/pdf  attachment
    └── message/rfc822   the forwarded original, byte for byte

Text, html and alternative messages are written directly by
``bridge.compose.mime`` (pre-folded headers, RFC 2047 for non-ASCII subjects
and display names: the stdlib's header objects cost ~1 ms per message);
everything else (attachments, inline images, a forwarded original, SMTPUTF8)
goes through the stdlib policy, which applies RFC 2047 to non-ASCII
subjects and display names and RFC 2231 to non-ASCII filenames. Bcc never
appears in the headers: those recipients exist only in the envelope.
Reply and forward derivation (subject, recipients, threading, quoting)
lives in ``bridge.compose.reply``; the value types in ``bridge.compose.model``.
"""

from __future__ import annotations

import email.utils
import re
from datetime import datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage

from bridge.compose import mime as compose_mime
from bridge.compose.mime import ascii_domain
from bridge.compose.model import Action, Composed, Draft, Mailbox
from bridge.compose.reply import complete
from bridge.errors import InvalidMessage, PayloadTooLarge
from bridge.mail.ids import new_conversation_id

# EmailEngine's and most providers' limit; the submit API answers 413 above it.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
# 7bit transfer encodings everywhere: the bytes survive any relay, even one without 8BITMIME.
_POLICY = email_policy.SMTP.clone(cte_type="7bit")
# RFC 6531: a non-ASCII local part needs SMTPUTF8 and UTF-8 headers end to end.
_POLICY_UTF8 = email_policy.SMTPUTF8
# RFC 5322 § 3.6.8: a field name is printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"^[!-9;-~]{1,76}$")
_MESSAGE_ID = re.compile(r"^<?([^<>\s@]+@[^<>\s@]+)>?$")
# Headers this module owns; a caller sets them through Draft fields, never as extra headers.
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "In-Reply-To",
        "References",
    )
)


def compose(draft: Draft, *, now: datetime, unique: str, stored: bool = False) -> Composed:
    """Build the message.

    Args:
        draft: what to send; a reply or forward is completed from its ``original`` first.
        now: the Date header (aware datetime).
        unique: a random token; the Message-ID's left part unless the draft brings its own.
        stored: the message is stored (a draft APPENDed to Drafts), not sent: it may have no recipients yet.

    Raises:
        InvalidMessage: a header value holds CR/LF, a field name or Message-ID is malformed,
            or there are no recipients.
        PayloadTooLarge: the message would exceed MAX_MESSAGE_BYTES.
    """
    draft = complete(draft)
    _check_headers(draft)
    recipients = _envelope(draft)
    if not recipients and not stored:
        raise InvalidMessage("the message has no recipients: give to, cc or bcc", code="noRecipients")
    _precheck_size(draft)
    message_id = own_message_id(draft.message_id) if draft.message_id else f"<{unique}@{_domain(draft.from_)}>"
    utf8 = any(not _local_part(m.address).isascii() for m in (draft.from_, *draft.to, *draft.cc, *draft.reply_to))
    forwarded = draft.original.raw if draft.action is Action.FORWARD and draft.original and not draft.quote else None
    raw = None
    if not utf8 and not draft.attachments and forwarded is None:
        raw = compose_mime.message(draft, message_id=message_id, now=now, unique=unique)
    if raw is None:
        raw = _with_stdlib(draft, message_id=message_id, now=now, unique=unique, utf8=utf8, forwarded=forwarded)
    if stored and draft.bcc:
        # A stored draft keeps its Bcc (as mail clients save it); sending it takes the header off again
        # (bridge.outbound.drafts).
        raw = b"Bcc: " + ", ".join(ascii_domain(b.address) for b in draft.bcc).encode() + b"\r\n" + raw
    if len(raw) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(
            f"the message is {len(raw)} bytes; the limit is {MAX_MESSAGE_BYTES}", code="messageTooLarge"
        )
    return Composed(
        raw=raw,
        message_id=message_id,
        envelope_from=ascii_domain(draft.from_.address),
        recipients=recipients,
        conversation_id=_conversation(draft, message_id),
        subject=draft.subject or "",
        smtputf8=utf8,
    )


def _with_stdlib(
    draft: Draft, *, message_id: str, now: datetime, unique: str, utf8: bool, forwarded: bytes | None
) -> bytes:
    """Build with ``EmailMessage``: attachments, inline images, a forwarded original, SMTPUTF8."""
    msg = EmailMessage(policy=_POLICY_UTF8 if utf8 else _POLICY)
    _set_headers(msg, draft, message_id, now)
    _set_body(msg, draft)
    placeholder = f"mailbridge-original-{unique}"
    if forwarded is not None:
        _attach_original(msg, placeholder, forwarded)
    _drop_inner_mime_version(msg)
    raw = msg.as_bytes()
    if forwarded is not None:
        # The stdlib generator cannot write an 8-bit message/rfc822 body; splice the original bytes in.
        raw = raw.replace(placeholder.encode(), _crlf(forwarded).rstrip(b"\r\n"), 1)
    return raw


def own_message_id(value: str) -> str:
    """A caller's Message-ID in angle brackets (RFC 5322 § 3.6.4: id-left "@" id-right).

    Raises:
        InvalidMessage: it is not of that form.
    """
    match = _MESSAGE_ID.match(value.strip())
    if match is None or not match.group(1).isascii():
        raise InvalidMessage(f"{value!r} is not a Message-ID like <unique@example.com>", code="invalidMessageId")
    return f"<{match.group(1)}>"


def _check_headers(draft: Draft) -> None:
    values: list[tuple[str, str]] = [("subject", draft.subject or "")]
    for where, boxes in (("from", (draft.from_,)), ("to", draft.to), ("cc", draft.cc), ("bcc", draft.bcc)):
        values.extend((f"{where} name", m.name) for m in boxes)
        values.extend((f"{where} address", m.address) for m in boxes)
    values.extend(("replyTo name", m.name) for m in draft.reply_to)
    for a in draft.attachments:
        values.extend((f"attachment {a.filename!r}", v or "") for v in (a.filename, a.content_type, a.content_id))
    for name, value in draft.headers:
        if not _FIELD_NAME.match(name):
            raise InvalidMessage(f"{name!r} is not a valid header name", code="invalidHeader")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidMessage(
                f"header {name!r} is set by the bridge; use the body field instead", code="invalidHeader"
            )
        values.append((f"header {name}", value))
    for where, value in values:
        if "\r" in value or "\n" in value:
            raise InvalidMessage(f"{where} contains a line break (header injection)", code="headerInjection")


def _envelope(draft: Draft) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for box in (*draft.to, *draft.cc, *draft.bcc):
        address = ascii_domain(box.address)
        seen.setdefault(address.lower(), address)
    return tuple(seen.values())


def _precheck_size(draft: Draft) -> None:
    # Base64 grows content by 4/3; refuse before spending time and memory on building.
    size = sum(len(a.content) for a in draft.attachments) * 4 // 3
    size += len((draft.text or "").encode()) + len((draft.html or "").encode())
    if size > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"the message would be over {MAX_MESSAGE_BYTES} bytes", code="messageTooLarge")


def _set_headers(msg: EmailMessage, draft: Draft, message_id: str, now: datetime) -> None:
    msg["From"] = _header_address(draft.from_)
    if draft.to:
        msg["To"] = [_header_address(m) for m in draft.to]
    if draft.cc:
        msg["Cc"] = [_header_address(m) for m in draft.cc]
    if draft.reply_to:
        msg["Reply-To"] = [_header_address(m) for m in draft.reply_to]
    msg["Subject"] = draft.subject or ""
    msg["Date"] = email.utils.format_datetime(now)
    msg["Message-ID"] = message_id
    if draft.in_reply_to:
        msg["In-Reply-To"] = f"<{draft.in_reply_to}>"
    if draft.references:
        msg["References"] = " ".join(f"<{r}>" for r in draft.references)
    for name, value in draft.headers:
        msg[name] = value


def _set_body(msg: EmailMessage, draft: Draft) -> None:
    text, html = draft.text, draft.html
    if text is None and html is None:
        text = ""
    if text is not None:
        msg.set_content(text, subtype="plain")
        if html is not None:
            msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(html or "", subtype="html")
    inline = [a for a in draft.attachments if a.content_id and html is not None]
    if inline:
        html_part = msg if not msg.is_multipart() else _part(msg, 1)
        for a in inline:
            maintype, subtype = _split_type(a.content_type)
            html_part.add_related(
                a.content, maintype, subtype, cid=f"<{a.content_id}>", filename=a.filename, disposition="inline"
            )
    for a in draft.attachments:
        if a in inline:
            continue
        maintype, subtype = _split_type(a.content_type)
        msg.add_attachment(a.content, maintype, subtype, filename=a.filename or "attachment")


def _attach_original(msg: EmailMessage, placeholder: str, original: bytes) -> None:
    if msg.get_content_type() != "multipart/mixed":
        msg.make_mixed()
    part = EmailMessage(policy=msg.policy)
    part["Content-Type"] = "message/rfc822"
    part["Content-Disposition"] = 'attachment; filename="forwarded.eml"'
    # RFC 2046 § 5.2.1: message/rfc822 allows only 7bit, 8bit or binary.
    part["Content-Transfer-Encoding"] = "7bit" if original.isascii() else "8bit"
    part.set_payload(placeholder)
    msg.attach(part)


def _part(msg: EmailMessage, index: int) -> EmailMessage:
    found = msg.get_payload()[index]  # type: ignore[index]
    assert isinstance(found, EmailMessage)  # noqa: S101 - parts built by set_content/add_alternative
    return found


def _drop_inner_mime_version(msg: EmailMessage) -> None:
    # The stdlib stamps MIME-Version on every part it creates; RFC 2045 § 4 wants it once, at the top.
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]


def _conversation(draft: Draft, message_id: str) -> str:
    if draft.action in (Action.REPLY, Action.REPLY_ALL) and draft.original is not None:
        if draft.original.conversation_id:
            return draft.original.conversation_id
        if draft.original.message_id:
            return new_conversation_id(draft.original.message_id, message_id)
    return new_conversation_id(message_id.strip("<>"), message_id)


def _header_address(box: Mailbox) -> Address:
    address = ascii_domain(box.address)
    local, _, domain = address.rpartition("@")
    if local.isascii():
        return Address(display_name=box.name, addr_spec=address)
    # The stdlib refuses a non-ASCII addr_spec (RFC 5322); given as parts it writes RFC 6532 UTF-8.
    return Address(display_name=box.name, username=local, domain=domain)


def _local_part(address: str) -> str:
    return address.rpartition("@")[0]


def _domain(box: Mailbox) -> str:
    return ascii_domain(box.address).rpartition("@")[2] or "localhost"


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.partition("/")
    if not maintype or not subtype or maintype.lower() in ("multipart", "message"):
        return "application", "octet-stream"
    return maintype.lower(), subtype.split(";")[0].strip().lower()


def _crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)
