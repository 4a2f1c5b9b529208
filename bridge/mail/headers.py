"""Decode RFC 5322 header values: encoded words, addresses, dates, message ids.

Pure: no I/O, no clock. Helpers for ``bridge.mail.message``; they take header
values as the stdlib ``compat32`` parser hands them over (folded, with raw
8-bit bytes carried as surrogate escapes) and never raise. Problems are
reported through the ``errors`` list the caller passes in.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime as dt
import email.utils
import quopri
import re

# Labels seen in real mail that Python's codec registry does not know, or
# knows under a narrower charset than the one senders actually use.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "x-euc-jp": "euc_jp",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "ansi_x3.4-1968": "ascii",
    "x-user-defined": "cp1252",
    # WHATWG: browsers and MUAs decode "latin-1" labels as windows-1252.
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
}

_FOLD = re.compile(r"[ \t]*\r?\n[ \t]*")
# RFC 2047 § 2; the text may hold folds (broken senders) which are dropped.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?((?:[^?]|\?(?!=))*?)\?=")
_FIELD_END = re.compile(r"\r?\n(?![ \t])")
_WSP_ONLY = re.compile(r"[ \t\r\n]*\Z")
_COMMENT = re.compile(r"\([^()]*\)")
_MSG_ID = re.compile(r"<([^<>]*)>")


def lookup_charset(label: str | None) -> str | None:
    """Return a Python codec name for a MIME charset label, or None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 § 5 language suffix
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, label: str | None, errors: list[str], where: str) -> str:
    """Decode bytes in a declared charset, falling back to UTF-8 then windows-1252."""
    codec = lookup_charset(label)
    if label and codec is None:
        errors.append(f"{where}: unknown charset {label!r}")
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            errors.append(f"{where}: bytes are not valid {label}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if codec is None and not label:
            errors.append(f"{where}: 8-bit text without a charset, read as windows-1252")
        return data.decode("cp1252", errors="replace")


def raw_text(value: str) -> str:
    """Turn a compat32 header value into text, decoding raw 8-bit bytes.

    compat32 keeps undecodable header bytes as surrogate escapes; RFC 6532
    says they are UTF-8, and legacy senders use a local charset instead.
    """
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _cut(value: str) -> str:
    # A line break not followed by whitespace ends the field (RFC 5322 § 2.2).
    end = _FIELD_END.search(value)
    return value if end is None else value[: end.start()]


def unfold(value: str) -> str:
    """Unfold a header value (RFC 5322 § 2.2.3) and trim it."""
    return _FOLD.sub(" ", _cut(value)).strip()


def _decode_word(charset: str, kind: str, text: str) -> bytes | None:
    text = re.sub(r"\r?\n[ \t]*", "", text)
    try:
        if kind in "bB":
            text = re.sub(r"[^A-Za-z0-9+/]", "", text)
            return base64.b64decode(text + "=" * (-len(text) % 4))
        # Raw 8-bit inside a Q word (seen from Eudora) goes back to its bytes.
        codec = "ascii" if text.isascii() else lookup_charset(charset) or "utf-8"
        data = text.replace("_", " ").encode(codec, "replace")
        return quopri.decodestring(data, header=True)
    except (binascii.Error, ValueError):
        return None


def decode_words(value: str, errors: list[str] | None = None) -> str:
    """Unfold a header value and decode its RFC 2047 encoded words.

    Adjacent encoded words are joined with no space (RFC 2047 § 6.2) and
    their bytes concatenated first, so a multi-byte character split across
    two words survives.
    """
    errs: list[str] = [] if errors is None else errors
    value = raw_text(value)
    if "=?" not in value:
        return unfold(value)
    value = _cut(value).strip()
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []
    pos = 0
    last_was_word = False

    def flush() -> None:
        for charset, data in _merge(pending):
            out.append(decode_bytes(data, charset, errs, "header"))
        pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        data = _decode_word(match.group(1), match.group(2), match.group(3))
        if data is None:
            errs.append(f"header: undecodable encoded word {match.group(0)[:40]!r}")
            continue
        if not (last_was_word and _WSP_ONLY.match(between)):
            flush()
            if between and out and not between[0].isspace() and last_was_word:
                out.append(" ")
            out.append(_FOLD.sub(" ", between))
            if between and not between[-1].isspace():
                out.append(" ")
        pending.append((match.group(1), data))
        pos = match.end()
        last_was_word = True
    flush()
    rest = value[pos:]
    if rest and last_was_word and not rest[0].isspace():
        out.append(" ")
    out.append(_FOLD.sub(" ", rest))
    return "".join(out).strip()


def _merge(words: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    merged: list[tuple[str, bytes]] = []
    for charset, data in words:
        if merged and merged[-1][0].lower() == charset.lower():
            merged[-1] = (charset, merged[-1][1] + data)
        else:
            merged.append((charset, data))
    return merged


def strip_comments(value: str) -> str:
    """Remove RFC 5322 comments, innermost first so nesting works."""
    while "(" in value:
        stripped = _COMMENT.sub(" ", value)
        if stripped == value:
            break
        value = stripped
    return value


def parse_addresses(value: str, errors: list[str], where: str) -> list[tuple[str, str]]:
    """Parse an address list into (display name, addr-spec) pairs.

    Groups are flattened (RFC 5322 § 3.4): their members are kept, the group
    name is not. Unparseable entries are dropped and reported.
    """
    text = unfold(raw_text(value))
    result: list[tuple[str, str]] = []
    for name, address in email.utils.getaddresses([text]):
        if not address and not name:
            continue
        if "@" not in address:
            errors.append(f"{where}: malformed address {address or name!r}")
            if not name and f"<{address}>" not in text:
                # A bare word ("From: Whomever") is a name with no address.
                name, address = address, ""
        display = decode_words(name, errors) if "=?" in name else name
        result.append((display.strip(), address.strip()))
    if text and not result and ":" not in text:
        errors.append(f"{where}: no address found in {text[:60]!r}")
    return result


def parse_date(value: str, errors: list[str]) -> dt.datetime | None:
    """Parse an RFC 5322 date (obsolete forms too) into an aware datetime."""
    text = strip_comments(unfold(raw_text(value)))
    parts = email.utils.parsedate_tz(text)
    if parts is None:
        errors.append(f"date: cannot parse {text[:60]!r}")
        return None
    offset = parts[9] or 0
    try:
        return dt.datetime(*parts[:6], tzinfo=dt.timezone(dt.timedelta(seconds=offset)))
    except (ValueError, OverflowError):
        errors.append(f"date: out of range {text[:60]!r}")
        return None


def parse_ids(value: str) -> list[str]:
    """Return the message ids in a Message-ID/In-Reply-To/References value."""
    text = unfold(raw_text(value))
    ids = [m.strip() for m in _MSG_ID.findall(text)]
    if ids:
        return [i for i in ids if i]
    # Ids without angle brackets: a frequent sender bug; keep the first token.
    token = text.split()
    return [token[0]] if token else []
