"""Pure parts of the live mailbox: FETCH parsing, envelopes and previews, search atoms, framing, reply text."""

from __future__ import annotations

import pytest

from bridge.errors import Unprocessable
from bridge.imap.fetched import parse_fetch_items
from bridge.mail.envelope import envelope, preview
from bridge.mail.reply_text import extract
from bridge.mailbox import protocol
from bridge.mailbox.search import criteria, imap_date

# A FETCH response as aioimaplib hands it (Dovecot's order of items): lines, literals, closing lines.
FETCH_LINES = [
    b'1 FETCH (UID 7 FLAGS (\\Seen $Label) RFC822.SIZE 2048 INTERNALDATE "07-Dec-2026 18:17:09 +0000" '
    b'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 8 1 NIL NIL NIL NIL)'
    b'("application" "pdf" ("name" "a.pdf") NIL NIL "base64" 10 NIL ("attachment" ("filename" "a.pdf")) NIL NIL)'
    b' "mixed" ("boundary" "b") NIL NIL NIL) BODY[HEADER.FIELDS (FROM SUBJECT)] {44}',
    bytearray(b"From: A <a@example.com>\r\nSubject: Hi\r\n\r\n\r\n"[:44]),
    b" BODY[TEXT]<0> {5}",
    bytearray(b"hello"),
    b")",
    b'2 FETCH (UID 9 FLAGS () RFC822.SIZE 10 INTERNALDATE " 1-Jan-2027 00:00:00 +0100" BODYSTRUCTURE ("text" '
    b'"plain" NIL NIL NIL "7bit" 1 1 NIL NIL NIL NIL) BODY[HEADER.FIELDS (FROM SUBJECT)] {2}',
    bytearray(b"\r\n"),
    b")",
    b"Fetch completed (0.001 + 0.000 secs).",
]


def test_fetch_items_carry_every_literal_and_the_small_items():
    first, second = parse_fetch_items(FETCH_LINES)
    assert (first.seq, first.uid, first.flags, first.size) == (1, 7, ("\\Seen", "$Label"), 2048)
    assert first.internal_date == "07-Dec-2026 18:17:09 +0000"
    assert first.has_attachments and not second.has_attachments
    assert first.section("BODY[HEADER.FIELDS").startswith(b"From: A")
    assert first.section("BODY[TEXT]") == b"hello"
    assert (second.uid, second.flags, second.section("BODY[TEXT]")) == (9, (), b"")


def test_envelope_decodes_names_subjects_and_ids():
    head = (
        b'From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\nTo: a@example.com, "B, C" <b@example.com>\r\n'
        b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\nMessage-ID: <x1@example.de>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0100\r\n\r\n"
    )
    got = envelope(head)
    assert got["from"] == {"name": "Jürgen", "address": "j@example.de"}
    assert got["to"] == [{"name": "", "address": "a@example.com"}, {"name": "B, C", "address": "b@example.com"}]
    assert (got["subject"], got["messageId"], got["date"]) == ("Grüße", "x1@example.de", "2026-12-07T09:00:00Z")


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        (b"Content-Type: text/plain\r\n", b"Hello   there\r\nsecond line", "Hello there second line"),
        (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n",
         b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln=\r\n, bis bald", "Grüße aus Köln, bis bald"),
        (b"Content-Type: text/html\r\n", b"<html><style>p{}</style><p>Hi &amp; bye</p>", "Hi & bye"),
        (b'Content-Type: multipart/mixed; boundary="b1"\r\n',
         b'--b1\r\nContent-Type: multipart/alternative; boundary="b2"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n'
         b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gZnJvbSBiYXNlNjQ=\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>x</p>",
         "Hello from base64"),
        (b'Content-Type: multipart/mixed; boundary="b1"\r\n', b"--b1\r\nContent-Type: image/png\r\n\r\nPNG", ""),
        (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n", b"SGVsbG8gd29y", "Hello wor"),
    ],
)  # fmt: skip
def test_preview_reads_the_first_text_part_of_a_cut_body(head, body, expected):
    assert preview(head + b"\r\n", body) == expected


def test_search_atoms():
    search = {"from": 'a"b', "seen": False, "since": "2026-12-07T23:00:00+01:00", "header": {"X-T": "1"},
              "larger": 10, "uid": "1:5"}  # fmt: skip
    assert criteria(search, gmail=False) == [
        "FROM", '"a\\"b"', "UNSEEN", "SINCE", "7-Dec-2026", "HEADER", '"X-T"', '"1"', "UID", "1:5", "LARGER", "10"
    ]  # fmt: skip
    assert criteria({}, gmail=False) == ["ALL"]
    assert criteria({"gmailRaw": "has:attachment"}, gmail=True) == ["X-GM-RAW", '"has:attachment"']
    with pytest.raises(Unprocessable):
        criteria({"gmailRaw": "x"}, gmail=False)
    assert imap_date("2027-01-31") == "31-Jan-2027"


def test_frames_carry_raw_bytes_and_errors():
    request = protocol.Request("r1", "acme", "append", {"path": "Drafts\n"}, 12.5, b"raw\n\x00bytes")
    assert protocol.decode_request(protocol.encode_request(request)) == request
    reply = protocol.decode_reply(protocol.encode_reply(protocol.Reply({"a": 1}, b"\r\nsource")))
    assert (reply.result, reply.payload, reply.error) == ({"a": 1}, b"\r\nsource", None)
    failed = protocol.decode_reply(
        protocol.encode_reply(protocol.error_reply(protocol.unavailable("acme", "down", protocol.MAILBOX_DOWN)))
    )
    with pytest.raises(protocol.RemoteError) as raised:
        protocol.raise_for(failed)
    assert (raised.value.status_code, raised.value.code) == (503, "accountUnavailable")
    # Why crosses too: a connection check may log in itself only when no watcher is connected.
    assert protocol.unserved(raised.value)
    late = protocol.unavailable("acme", "slow", protocol.NO_ANSWER)
    # Transient whichever side found no one to run it: raised here, or answered by a watcher.
    assert late.transient and raised.value.transient
    assert not protocol.unserved(late) and not protocol.unserved(protocol.RemoteError(404, "folderNotFound", "x"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks, works.\n\nBest,\nBob\n--\nBob Smith\n\nOn Mon, Nov 23, 2026 at 10:00 AM Alice <a@b.c> wrote:\n> Q?\n",
         "Thanks, works."),
        ("Hallo,\n\nja passt.\n\nAm 23.11.2026 um 10:00 schrieb Alice <a@b.c>:\n> Frage?\n", "Hallo,\n\nja passt."),
        ("Just one line", "Just one line"),
        ("word " * 5000, ("word " * 5000).strip()),  # longer than the part read, nothing quoted: all of it
    ],
)  # fmt: skip
def test_extracted_text_drops_quotes_and_signatures(text, expected):
    assert extract(text) == expected


def test_extracted_text_from_html_only():
    html = (
        "<p>Yes!</p><div>On Mon, Nov 23, 2026 at 10:00 AM Alice &lt;a@b.c&gt; wrote:</div><blockquote>old</blockquote>"
    )
    assert extract(None, html) == "Yes!"
    assert extract(None, None) is None
