"""bridge.mail.message: parse raw bytes once into a ParsedMessage."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from bridge.mail.message import Address, Attachment, ParsedMessage, attachment_content, parse

DATA = Path(__file__).resolve().parent.parent / "data" / "mime"
CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "mime" / "eml"


def load(name: str) -> ParsedMessage:
    return parse((DATA / name).read_bytes())


def test_raw_tree_and_sha_are_kept():
    raw = (DATA / "alternative.eml").read_bytes()
    parsed = parse(raw)
    assert parsed.raw is raw
    assert parsed.tree["Message-ID"] == "<alt-1@example.org>"
    assert parsed.body_sha256 == hashlib.sha256(raw).hexdigest()
    assert parsed.size == len(raw)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("message_id", "alt-1@example.org"),
        ("in_reply_to", "prev-2@example.net"),
        ("references", ["root-1@example.net", "prev-2@example.net"]),
        ("subject", "Lunch plans"),
        ("date", dt.datetime(2003, 7, 1, 10, 52, 37, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
        ("from_", [Address("Alice Example", "alice@example.org")]),
        ("to", [Address("Bob", "bob@example.net"), Address("", "carol@example.net")]),
        ("cc", [Address("Dave, Jr.", "dave@example.net")]),
        ("reply_to", [Address("", "replies@example.org")]),
        ("sender", []),
        ("bcc", []),
        ("parse_errors", []),
    ],
)
def test_envelope_fields(field, expected):
    assert getattr(load("alternative.eml"), field) == expected


def test_headers_are_ordered_and_decoded():
    headers = load("encoded_headers.eml").headers
    assert [name for name, _ in headers] == ["From", "To", "Subject", "Date"]
    assert headers[0][1] == "Keld Jørn Simonsen <keld@example.dk>"


def test_alternative_gives_text_and_html():
    parsed = load("alternative.eml")
    assert (parsed.text, parsed.html, parsed.attachments) == ("Café at noon?", "<p>Café at noon?</p>", [])


def test_mixed_lists_attachments_with_decoded_size_and_rfc2231_name():
    parsed = load("mixed_attachments.eml")
    assert parsed.text == "See attached."
    assert parsed.attachments == [
        Attachment("2", "résumé.pdf", "application/pdf", 23, None, False),
        Attachment("3", "data.csv", "text/csv", 7, None, False),
    ]


def test_related_image_is_an_inline_attachment():
    parsed = load("related_inline.eml")
    assert parsed.html == '<img src="cid:logo@example.org">'
    assert parsed.text is None
    assert parsed.attachments == [Attachment("2", None, "image/png", 70, "logo@example.org", True)]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        # Adjacent encoded words join without the space (RFC 2047 § 6.2), even
        # when one names an unknown charset.
        ("subject", "Récapitulatif de la réservationodd"),
        ("from_", [Address("Keld Jørn Simonsen", "keld@example.dk")]),
        # An unterminated encoded word stays literal.
        ("to", [Address("Jürgen", "juergen@example.de"), Address("=?utf-8?Q?broken_word", "x@example.de")]),
        ("parse_errors", ["header: unknown charset 'x-nope'"]),
    ],
)
def test_rfc2047_headers(field, expected):
    assert getattr(load("encoded_headers.eml"), field) == expected


def test_eight_bit_without_charset_falls_back_and_reports():
    parsed = load("eight_bit_no_charset.eml")
    assert parsed.subject == "Grüße"
    assert parsed.text == "Grüße aus Köln\n"
    assert parsed.parse_errors == ["part 1: 8-bit text without a charset, read as windows-1252"]


def test_unknown_charset_falls_back_to_utf8_and_reports():
    parsed = load("unknown_charset.eml")
    assert parsed.text == "qaplaé\n"
    assert parsed.parse_errors == ["part 1: unknown charset 'x-klingon'"]


def test_malformed_headers_are_reported_not_raised():
    parsed = load("malformed_headers.eml")
    # RFC 5322 § 4.5.3 obsolete "Subject :" still counts as a header.
    assert parsed.subject == "obsolete colon spacing"
    assert "From: malformed address 'not'" in parsed.parse_errors
    assert any("no leading whitespace and no colon" in e for e in parsed.parse_errors)


def test_multipart_without_boundary_reads_as_text():
    parsed = load("multipart_no_boundary.eml")
    assert parsed.text is not None and "hello" in parsed.text
    assert any("no boundary" in e for e in parsed.parse_errors)


def test_missing_headers_give_empty_values():
    parsed = load("missing_headers.eml")
    assert (parsed.subject, parsed.from_, parsed.date, parsed.message_id) == ("", [], None, None)
    assert parsed.parse_errors == ["header: From is missing", "header: Date is missing"]


def test_bad_date_is_none_with_error():
    parsed = load("bad_date.eml")
    assert parsed.date is None
    assert parsed.parse_errors == ["date: cannot parse 'Tue, 7 Bog 2026 19:14:51 +0000'"]


def test_nested_message_is_an_attachment_not_body():
    parsed = load("nested_rfc822.eml")
    assert parsed.text == "Forwarding this."
    assert [(a.id, a.filename, a.content_type) for a in parsed.attachments] == [("2", "Original.eml", "message/rfc822")]


@pytest.mark.parametrize(
    ("sample", "attachment_id", "content_type", "prefix"),
    [
        ("mixed_attachments.eml", "2", "application/pdf", b"%PDF-1.4\n"),
        ("mixed_attachments.eml", "3", "text/csv", b"a,b\n1,2"),
        ("related_inline.eml", "2", "image/png", bytes(range(8))),
        ("nested_rfc822.eml", "2", "message/rfc822", b"From: carol@example.net\n"),
    ],
)
def test_attachment_content_returns_decoded_bytes(sample, attachment_id, content_type, prefix):
    parsed = load(sample)
    result = attachment_content(parsed, attachment_id)
    assert result is not None
    content, ctype = result
    assert (content.startswith(prefix), ctype) == (True, content_type)
    assert len(content) == next(a.size for a in parsed.attachments if a.id == attachment_id)


@pytest.mark.parametrize("attachment_id", ["1", "9", "", "../1", "2.1", "x"])
def test_attachment_content_unknown_id_is_none(attachment_id):
    assert attachment_content(load("mixed_attachments.eml"), attachment_id) is None


@pytest.mark.parametrize(
    "raw", [b"", b"\r\n", b"\xff\xfe\x00", b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n"]
)
def test_garbage_never_raises(raw):
    assert parse(raw).size == len(raw)


def test_every_corpus_message_parses():
    # The corpus ships in tests/corpora (see its README for provenance and licences).
    if not CORPUS.is_dir():
        pytest.fail(f"MIME corpus not found at {CORPUS}; it ships with the repository")
    files = sorted(CORPUS.rglob("*.eml"))
    assert files
    for path in files:
        parsed = parse(path.read_bytes())
        assert not [e for e in parsed.parse_errors if e.startswith("internal")], path
        for att in parsed.attachments:
            assert attachment_content(parsed, att.id) is not None, (path, att.id)
