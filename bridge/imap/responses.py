"""Parse IMAP response lines into values (RFC 3501, RFC 6154).

Pure: no sockets, no aioimaplib. Shared by the session helpers and the
watcher, so every IMAP quirk is handled in one place.
"""

from __future__ import annotations

import base64
import re

from bridge.imap.fetched import parse_fetch_items
from bridge.models import FetchedMessage, FolderStatus, Mailbox

# RFC 6154 § 2: the special-use attributes.
SPECIAL_USE = (
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
)
_SPECIAL_BY_LOWER = {flag.lower(): flag for flag in SPECIAL_USE}

_LIST_LINE = re.compile(
    rb'^(?:\* )?(?:LIST )?\((?P<flags>[^)]*)\) (?P<delim>NIL|"(?:[^"\\]|\\.)*") (?P<name>.*)$',
    re.I,
)


def decode_mailbox_name(name: str) -> str:
    """Decode IMAP modified UTF-7 (RFC 3501 § 5.1.3) into text."""
    out: list[str] = []
    i = 0
    while i < len(name):
        amp = name.find("&", i)
        if amp < 0:
            out.append(name[i:])
            break
        out.append(name[i:amp])
        end = name.find("-", amp)
        if end < 0:
            out.append(name[amp:])
            break
        chunk = name[amp + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                out.append(name[amp : end + 1])
        i = end + 1
    return "".join(out)


def encode_mailbox_name(name: str) -> str:
    """Encode text as IMAP modified UTF-7 (RFC 3501 § 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def quote(value: str) -> str:
    """Quote a string argument (RFC 3501 § 9 quoted)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse_list_response(lines: list[bytes | bytearray]) -> list[Mailbox]:
    """Turn the untagged lines of a LIST response into mailboxes.

    aioimaplib hands a mailbox name sent as a literal as a separate item after
    a line ending in ``{n}``; that case is joined here.
    """
    mailboxes: list[Mailbox] = []
    pending: bytes | None = None
    for item in lines:
        line = bytes(item)
        if pending is not None:
            line, pending = pending + b'"' + line.replace(b'"', b'\\"') + b'"', None
        elif re.search(rb"\{\d+\}$", line):
            pending = re.sub(rb"\{\d+\}$", b"", line)
            continue
        match = _LIST_LINE.match(line)
        if not match:
            continue
        flags = tuple(match["flags"].decode().split())
        delim = None if match["delim"].upper() == b"NIL" else _unquote(match["delim"])
        path = _unquote(match["name"].strip())
        name = decode_mailbox_name(path.rsplit(delim, 1)[-1] if delim else path)
        special = next(
            (_SPECIAL_BY_LOWER[f.lower()] for f in flags if f.lower() in _SPECIAL_BY_LOWER),
            None,
        )
        if special is None and path.upper() == "INBOX":
            special = "\\Inbox"
        mailboxes.append(Mailbox(path=path, name=name, delimiter=delim, flags=flags, special_use=special))
    return mailboxes


def response_text(lines: list[bytes | bytearray]) -> str:
    """The human-readable text of a tagged response (its last line)."""
    return bytes(lines[-1]).decode("utf-8", "replace") if lines else ""


_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT) (\d+)\]", re.I)
_EXISTS = re.compile(rb"^(\d+) EXISTS$", re.I)
_STATUS_ITEM = re.compile(rb"(MESSAGES|UIDNEXT|UIDVALIDITY) (\d+)", re.I)


def parse_select(lines: list[bytes | bytearray]) -> FolderStatus | None:
    """UIDVALIDITY, UIDNEXT and EXISTS from a SELECT/EXAMINE response (RFC 3501 § 6.3.1)."""
    codes: dict[str, int] = {}
    exists = 0
    for item in lines:
        line = bytes(item)
        for name, value in _CODE.findall(line):
            codes[name.decode().upper()] = int(value)
        match = _EXISTS.match(line)
        if match:
            exists = int(match.group(1))
    if "UIDVALIDITY" not in codes:
        return None
    # UIDNEXT is optional for servers (RFC 3501 § 6.3.1); 0 means "ask with SEARCH".
    return FolderStatus(uidvalidity=codes["UIDVALIDITY"], uidnext=codes.get("UIDNEXT", 0), exists=exists)


def parse_status(lines: list[bytes | bytearray]) -> FolderStatus | None:
    """The items of a STATUS response (RFC 3501 § 7.2.4)."""
    for item in lines:
        found = {k.decode().upper(): int(v) for k, v in _STATUS_ITEM.findall(bytes(item))}
        if "UIDVALIDITY" in found and "UIDNEXT" in found:
            return FolderStatus(found["UIDVALIDITY"], found["UIDNEXT"], found.get("MESSAGES", 0))
    return None


def parse_search(lines: list[bytes | bytearray]) -> list[int]:
    """The numbers of a SEARCH response; aioimaplib strips the ``* SEARCH`` prefix."""
    numbers: list[int] = []
    for item in lines[:-1]:
        tokens = bytes(item).removeprefix(b"SEARCH").split()
        # Other untagged data can ride along ("1 EXISTS", "3 EXPUNGE"): it is not a result line.
        if tokens and all(tok.isdigit() for tok in tokens):
            numbers.extend(int(tok) for tok in tokens)
    return numbers


def parse_fetch(lines: list[bytes | bytearray]) -> list[FetchedMessage]:
    """Messages from a ``UID FETCH … (UID FLAGS INTERNALDATE BODY.PEEK[])`` response.

    The one FETCH parser (``bridge.imap.fetched``) reads the response; a message whose
    body did not come (the server answered only flags, say) is left out.
    """
    return [
        FetchedMessage(uid=f.uid, flags=f.flags, internal_date=f.internal_date, raw=f.sections["BODY[]"])
        for f in parse_fetch_items(lines)
        if "BODY[]" in f.sections
    ]


# Untagged responses that answer the command which asked for them and say nothing about the selected
# folder (RFC 3501 § 7.2, RFC 5161, RFC 2971, RFC 2342, RFC 2087).
_ANSWERS_ONLY = frozenset(
    (b"SEARCH", b"ESEARCH", b"STATUS", b"LIST", b"LSUB", b"CAPABILITY", b"ENABLED", b"ID", b"NAMESPACE",
     b"QUOTA", b"QUOTAROOT")
)  # fmt: skip
_UNTAGGED_NAME = re.compile(rb"^\* (?:\d+ )?([A-Za-z.-]+)")
_MODSEQ = re.compile(rb"MODSEQ", re.I)


def is_change_notice(line: bytes, *, fetching: bool = True) -> bool:
    """Whether a response line may tell of a change in the selected folder (by anyone), so what was
    known of the folder before it may no longer hold.

    Errs towards yes: a false yes only costs a fresh EXAMINE. Yes for EXISTS, EXPUNGE, VANISHED, RECENT,
    FLAGS, every untagged OK/NO/BAD/BYE (response codes: HIGHESTMODSEQ, UIDVALIDITY, ...), and any FETCH
    carrying MODSEQ: with CONDSTORE enabled the server MUST send MODSEQ in every FETCH that reports a flag
    change (RFC 7162 § 3.2), and a FETCH we asked for carries none (we never ask for it). Any other line
    (one continuing a response after a literal, a tagged one) counts when it carries MODSEQ, in case a
    server folds a flag change into a FETCH we asked for. ``fetching=False`` (no FETCH or STORE of ours
    pending): every FETCH is one we did not ask for, so a notice, MODSEQ or not.
    """
    if not line.startswith(b"* "):
        return _MODSEQ.search(line) is not None
    match = _UNTAGGED_NAME.match(line)
    name = match.group(1).upper() if match else b""
    if name == b"FETCH":
        return not fetching or _MODSEQ.search(line) is not None
    return name not in _ANSWERS_ONLY
