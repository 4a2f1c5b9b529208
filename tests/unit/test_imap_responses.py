"""IMAP response parsing: LIST lines, modified UTF-7 names."""

from __future__ import annotations

import pytest

from bridge.imap.responses import decode_mailbox_name, encode_mailbox_name, is_change_notice, parse_list_response


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


@pytest.mark.parametrize(
    ("line", "notice"),
    [
        (b"* 12 EXISTS", True),
        (b"* 3 EXPUNGE", True),
        (b"* VANISHED 3:5", True),
        (b"* 1 RECENT", True),
        (b"* FLAGS (\\Seen \\Deleted $Label)", True),
        (b"* OK [HIGHESTMODSEQ 90] Highest", True),
        (b"* BYE the folder was deleted", True),
        (b"* 2 FETCH (MODSEQ (11) FLAGS (\\Seen))", True),
        (b"* 2 FETCH (UID 7 FLAGS (\\Seen) modseq (11))", True),
        (b" MODSEQ (11))", True),  # after a literal: a flag change folded into a FETCH we asked for
        (b"* 2 FETCH (UID 7 FLAGS (\\Seen) RFC822.SIZE 120 BODY[] {120}", False),  # one we asked for
        (b")", False),
        (b"* SEARCH 1 2 3", False),
        (b"* STATUS INBOX (MESSAGES 3)", False),
        (b'* LIST () "/" INBOX', False),
        (b"* CAPABILITY IMAP4rev1 CONDSTORE", False),
        (b"* ENABLED CONDSTORE", False),
        (b"A12 OK Fetch completed.", False),
        (b"", False),
    ],
)
def test_change_notices_are_told_from_answers(line, notice):
    # Counted on every command connection; a kept selection is reused only while none came (bridge.imap.live).
    assert is_change_notice(line) is notice


def test_a_fetch_while_none_of_ours_runs_is_a_notice_even_without_modseq():
    # A server that leaves MODSEQ out of a flag change it tells during a NOOP is still heard.
    assert is_change_notice(b"* 2 FETCH (FLAGS (\\Seen))", fetching=False)
    assert not is_change_notice(b"* 2 FETCH (FLAGS (\\Seen))", fetching=True)
    assert not is_change_notice(b"* SEARCH 2", fetching=False)
