"""Message ids that name any message on the server: folder, UIDVALIDITY and UID.

An id is resolvable without a lookup (the API can fetch a message the bridge has
never seen, from any folder) and stable for as long as the server keeps the UID
(RFC 3501 § 2.3.1.1: a UID is valid while the folder's UIDVALIDITY is unchanged).
The account is not part of it: every route that takes an id names its account.

Form: ``"m"`` + unpadded base64url of ``uidvalidity (4 bytes, big-endian) +
uid (4 bytes) + folder name (UTF-8)``. Both numbers are 32-bit by RFC 3501
(``nz-number``), so the layout is fixed. EmailEngine packs the same three facts
(its ids are base64url too); ours carries the folder name itself rather than an
index into a folder table, so no Redis entry is needed to read it back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from bridge.errors import NotFound

_PREFIX = "m"
_HEAD = struct.Struct(">II")
# A folder name longer than this is no real mailbox; it bounds what a caller can make us decode.
MAX_FOLDER_BYTES = 1024
# Longest id ``encode`` can produce; schemas use it as the path parameter's max length.
MAX_ID_LENGTH = len(_PREFIX) + (4 * (_HEAD.size + MAX_FOLDER_BYTES) + 2) // 3
PATTERN = r"^m[A-Za-z0-9_-]{11,}$"


@dataclass(frozen=True, slots=True, order=True)
class MessageId:
    """Where a message lives: ``folder`` as the server spells it (decoded from modified UTF-7)."""

    folder: str
    uidvalidity: int
    uid: int

    def encode(self) -> str:
        folder = self.folder.encode()
        if not folder or len(folder) > MAX_FOLDER_BYTES:
            raise ValueError(f"folder name of {len(folder)} bytes cannot be part of a message id")
        packed = _HEAD.pack(self.uidvalidity, self.uid) + folder
        return _PREFIX + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")

    def __str__(self) -> str:
        return self.encode()


def decode(value: str) -> MessageId:
    """The message an id names.

    Raises:
        NotFound: (code ``messageNotFound``) not an id this bridge could have issued; an id
            that names no message is a missing message, not a malformed request.
    """
    try:
        if not value.startswith(_PREFIX) or len(value) > MAX_ID_LENGTH:
            raise ValueError("not a message id")
        body = value[len(_PREFIX) :]
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if len(packed) <= _HEAD.size or base64.urlsafe_b64encode(packed).rstrip(b"=").decode() != body:
            raise ValueError("not a message id")  # non-canonical spellings would give one message two ids
        uidvalidity, uid = _HEAD.unpack_from(packed)
        folder = packed[_HEAD.size :].decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise NotFound(f"no message {value!r}", code="messageNotFound") from exc
    if uid == 0 or uidvalidity == 0 or "\0" in folder:  # RFC 3501: nz-number; no NUL in a mailbox name
        raise NotFound(f"no message {value!r}", code="messageNotFound")
    return MessageId(folder, uidvalidity, uid)


def encode(folder: str, uidvalidity: int, uid: int) -> str:
    return MessageId(folder, uidvalidity, uid).encode()


def new_conversation_id(message_id: str | None, fallback: str) -> str:
    """A conversation id for first contact, derived from the opening message (its Message-ID, else ``fallback``).

    Here, beside the message ids, because inbound mail (the first message of a thread) and
    compose (a new message) both start conversations.
    """
    seed = message_id or fallback
    return "conv_" + hashlib.sha256(seed.encode()).hexdigest()[:20]
