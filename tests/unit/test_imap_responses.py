"""IMAP response parsing: LIST lines, modified UTF-7 names."""

from __future__ import annotations

import pytest

from bridge.imap.responses import decode_mailbox_name, encode_mailbox_name, parse_list_response


@pytest.mark.parametrize(
    ("encoded", "text"),
    [
        ("INBOX", "INBOX"),
        ("Entw&APw-rfe", "Entwürfe"),
        ("A&-B", "A&B"),
        ("&ZeVnLIqe-", "日本語"),
        ("~peter/mail/&U,BTFw-", "~peter/mail/台北"),
    ],
)
def test_modified_utf7_round_trip(encoded, text):
    assert decode_mailbox_name(encoded) == text
    assert encode_mailbox_name(text) == encoded


def test_list_lines_with_special_use_quotes_nil_delimiter_and_literal():
    lines = [
        b'(\\HasNoChildren \\Sent) "/" Sent',
        b'(\\HasChildren) "." "INBOX"',
        b'(\\HasNoChildren \\junk) "/" "Spam \\"x\\""',
        b"(\\Noselect) NIL {4}",
        bytearray(b"Fo o"),
        b'(\\HasNoChildren) "/" "Archive/2024"',
        b"not a list line",
    ]
    boxes = parse_list_response(lines)
    assert [(b.path, b.special_use) for b in boxes] == [
        ("Sent", "\\Sent"),
        ("INBOX", "\\Inbox"),
        ('Spam "x"', "\\Junk"),
        ("Fo o", None),
        ("Archive/2024", None),
    ]
    assert boxes[4].name == "2024"
    assert boxes[3].delimiter is None


def test_search_results_ignore_other_untagged_lines():
    from bridge.imap.responses import parse_search

    lines = [b"2 3 5", b"1 EXISTS", b"4 EXPUNGE", b"SEARCH 8", b"Search completed (0.001 + 0.000 secs)."]
    assert parse_search(lines) == [2, 3, 5, 8]
    assert parse_search([b"SEARCH", b"Search completed."]) == []
