"""Message ids: any (folder, UIDVALIDITY, UID) round-trips; anything else is a missing message."""

from __future__ import annotations

import re

import pytest

from bridge.errors import NotFound
from bridge.mail import ids
from bridge.mail.ids import MessageId


@pytest.mark.parametrize(
    "where",
    [
        MessageId("INBOX", 1, 1),
        MessageId("[Gmail]/Sent Mail", 4294967295, 4294967295),
        MessageId("Entwürfe/Ünïcødé 📬", 1700000000, 12345),
        MessageId("a" * ids.MAX_FOLDER_BYTES, 7, 9),
    ],
)
def test_an_id_names_its_message_and_is_url_safe(where: MessageId) -> None:
    encoded = where.encode()
    assert re.fullmatch(ids.PATTERN, encoded)
    assert len(encoded) <= ids.MAX_ID_LENGTH
    assert ids.decode(encoded) == where


def test_ids_differ_when_any_part_differs() -> None:
    seen = {MessageId(f, v, u).encode() for f in ("INBOX", "Sent") for v in (1, 2) for u in (1, 2)}
    assert len(seen) == 8


@pytest.mark.parametrize(
    "value",
    ["", "m", "msg_0123456789abcdef01234567", "mAAAA", "m!!!!!!!!!!!!!!!", "x" + MessageId("INBOX", 1, 1).encode()[1:],
     MessageId("INBOX", 1, 1).encode() + "A",  # a folder name ending in NUL
     "m" + "A" * 16,  # uid 0
     "m" + "_" * 20],  # folder bytes that are not UTF-8
)  # fmt: skip
def test_anything_else_is_a_missing_message(value: str) -> None:
    with pytest.raises(NotFound) as caught:
        ids.decode(value)
    assert caught.value.code == "messageNotFound"


def test_folders_that_cannot_be_named_are_refused_when_encoding() -> None:
    for folder in ("", "a" * (ids.MAX_FOLDER_BYTES + 1)):
        with pytest.raises(ValueError):
            MessageId(folder, 1, 1).encode()
