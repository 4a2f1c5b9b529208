"""The JSON request body: content type, size, nesting depth, read once.

Views that declare a body model get it validated from ``json_bytes()``
(pydantic's ``model_validate_json``, straight from the bytes: no decoded text,
no dict tree); ``json_body()`` parses the same bytes for the few that need
plain JSON (the idempotency fingerprint). A body is JSON only when its
content type says so (``application/json`` or a ``+json`` type, RFC 6839
§ 3.1); anything else is 415, so a form or a ``text/plain`` POST from a
browser page cannot act on the API. ``MAX_CONTENT_LENGTH`` holds for every
body: a larger ``Content-Length`` is refused before a byte is read, a
chunked body when it passes the limit. Nesting deeper than ``MAX_DEPTH`` is
refused before any parser sees it: ``json.loads`` would end in a
RecursionError (a 500) on 100,000 levels.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, cast

from flask import g, request

from bridge.errors import UnsupportedMediaType, ValidationError

# Our deepest documented body (policy: rules → match → …) is 5 levels; 64 leaves room for clients' habits.
MAX_DEPTH = 64
_CHUNK = 1024 * 1024
# A JSON string (skipped whole, whatever brackets it holds) or one bracket.
_STRUCTURE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def is_json(mimetype: str) -> bool:
    """``application/json`` or any ``+json`` structured-syntax type (RFC 6839 § 3.1)."""
    mimetype = mimetype.lower()
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def nesting_depth(data: bytes | bytearray, limit: int = MAX_DEPTH) -> int:
    """Deepest bracket nesting of a JSON text, counting up to ``limit + 1``.

    Fewer opening brackets than the limit cannot nest deeper than it, which
    answers a large body of strings (base64 attachments) with two ``count``
    calls; otherwise one regex pass that skips strings.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0
    depth = deepest = 0
    for match in _STRUCTURE.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _read_body() -> bytearray:
    """Read the body into one buffer, refusing it (413) past ``MAX_CONTENT_LENGTH``.

    ``request.stream`` already refuses a larger Content-Length. A chunked body
    has no length to check: Werkzeug's stream stops at the limit, and its next
    read raises RequestEntityTooLarge; ``get_data`` would instead return the
    first MAX_CONTENT_LENGTH bytes as if they were the whole body. With a
    Content-Length the body is read straight into a buffer of that size.
    """
    stream = request.stream  # RequestEntityTooLarge for a Content-Length over the limit
    length = request.content_length
    if length is None:
        buffer = bytearray()
        while chunk := stream.read(_CHUNK):
            buffer += chunk
        return buffer
    buffer = bytearray(length)
    raw = cast(io.RawIOBase, stream)  # Werkzeug's LimitedStream (or an empty BytesIO)
    with memoryview(buffer) as view:
        got = 0
        while got < length and (n := raw.readinto(view[got:])):
            got += n
    if got < length:
        raise ValidationError(f"the body ended after {got} of {length} bytes", code="invalidJson")
    return buffer


def json_bytes() -> bytearray:
    """The request body, checked to be non-empty JSON within the nesting limit; read once per request.

    Raises:
        UnsupportedMediaType: the content type is not JSON.
        ValidationError: the body is empty (invalidJson) or nested deeper than MAX_DEPTH (invalidInput).
    """
    if "json_bytes" in g:
        cached: bytearray = g.json_bytes
        return cached
    if (
        not request.mimetype
        and not request.content_length
        and "chunked" not in request.headers.get("Transfer-Encoding", "")
    ):
        raise ValidationError("the request needs a JSON body", code="invalidJson")
    if not is_json(request.mimetype):
        raise UnsupportedMediaType(
            f"send the body as JSON with 'Content-Type: application/json', not {request.mimetype or 'no type'!r}",
            details={"contentType": request.mimetype or None},
        )
    raw = _read_body()
    if not raw:
        raise ValidationError("the request needs a JSON body", code="invalidJson")
    if nesting_depth(raw) > MAX_DEPTH:
        raise ValidationError(f"the JSON body is nested deeper than {MAX_DEPTH} levels")
    g.json_bytes = raw
    return raw


def json_body() -> Any:
    """The request body parsed as JSON (checked as ``json_bytes`` is).

    Raises:
        UnsupportedMediaType: the content type is not JSON.
        ValidationError: as ``json_bytes``, or the body is not UTF-8 JSON (invalidJson).
    """
    try:
        # RFC 8259 § 8.1: JSON exchanged between systems is UTF-8.
        return json.loads(json_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("the request body is not valid JSON", code="invalidJson") from exc
