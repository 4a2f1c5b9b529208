"""compose and compose_reply: pure MIME building, table-driven, read back with the stdlib parser."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from bridge.compose import build as compose_module
from bridge.compose.build import MAX_MESSAGE_BYTES, compose, own_message_id
from bridge.compose.model import Action, Attachment, Draft, Mailbox, Original
from bridge.compose.reply import forward_subject, reply_subject, thread_references
from bridge.errors import InvalidMessage, PayloadTooLarge

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ME = Mailbox("support@acme.test", "Acme Support")
ANN = Mailbox("ann@example.com", "Ann")
PNG = b"\x89PNG\r\n\x1a\nfake"


def build(**fields):
    draft = Draft(**{"from_": ME, "to": (ANN,), "subject": "Hello", **fields})
    return compose(draft, now=NOW, unique="u1")


def read(composed):
    return email.message_from_bytes(composed.raw, policy=email.policy.default)


def structure(msg):
    """The MIME tree as nested tuples of content types."""
    if msg.is_multipart():
        return (msg.get_content_type(), *(structure(p) for p in msg.iter_parts()))
    return msg.get_content_type()


# --- structure ------------------------------------------------------------------

STRUCTURES = {
    "text only": ({"text": "hi"}, "text/plain"),
    "html only": ({"html": "<p>hi</p>"}, "text/html"),
    "no body": ({}, "text/plain"),
    "alternative": ({"text": "hi", "html": "<p>hi</p>"}, ("multipart/alternative", "text/plain", "text/html")),
    "mixed": (
        {"text": "hi", "attachments": (Attachment(b"%PDF", "a.pdf", "application/pdf"),)},
        ("multipart/mixed", "text/plain", "application/pdf"),
    ),
    "related inside alternative inside mixed": (
        {
            "text": "hi",
            "html": '<img src="cid:logo@acme">',
            "attachments": (
                Attachment(PNG, "logo.png", "image/png", "logo@acme"),
                Attachment(b"x", "a.txt", "text/plain"),
            ),
        },
        (
            "multipart/mixed",
            ("multipart/alternative", "text/plain", ("multipart/related", "text/html", "image/png")),
            "text/plain",
        ),
    ),
    "related without text": (
        {"html": '<img src="cid:logo@acme">', "attachments": (Attachment(PNG, "logo.png", "image/png", "logo@acme"),)},
        ("multipart/related", "text/html", "image/png"),
    ),
    "inline image without html is a plain attachment": (
        {"text": "hi", "attachments": (Attachment(PNG, "logo.png", "image/png", "logo@acme"),)},
        ("multipart/mixed", "text/plain", "image/png"),
    ),
}


@pytest.mark.parametrize("fields,expected", STRUCTURES.values(), ids=STRUCTURES.keys())
def test_mime_structure(fields, expected):
    assert structure(read(build(**fields))) == expected


def test_inline_part_carries_its_content_id_and_bytes():
    msg = read(
        build(html='<img src="cid:logo@acme">', attachments=(Attachment(PNG, "logo.png", "image/png", "logo@acme"),))
    )
    image = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo@acme>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == PNG


def test_required_headers_and_one_mime_version():
    composed = build(text="hi")
    msg = read(composed)
    assert msg["Date"] == "Fri, 01 Mar 2024 12:00:00 +0000"
    assert msg["Message-ID"] == "<u1@acme.test>" == composed.message_id
    assert msg["MIME-Version"] == "1.0"
    assert composed.raw.count(b"MIME-Version") == 1
    assert composed.raw.isascii() and b"\r\n" in composed.raw and b"\n" not in composed.raw.replace(b"\r\n", b"")


def test_bcc_only_in_the_envelope():
    composed = build(text="hi", cc=(Mailbox("c@example.com"),), bcc=(Mailbox("secret@example.com", "Secret"),))
    assert composed.recipients == ("ann@example.com", "c@example.com", "secret@example.com")
    assert b"secret" not in composed.raw.lower() and read(composed)["Bcc"] is None


def test_recipients_are_deduplicated_case_insensitively():
    composed = build(text="hi", cc=(Mailbox("ANN@example.com"),), bcc=(Mailbox("ann@example.com"),))
    assert composed.recipients == ("ann@example.com",)


# --- encodings --------------------------------------------------------------------


def test_non_ascii_subject_names_and_filenames_are_encoded():
    composed = build(
        from_=Mailbox("support@acme.test", "Jürgen Müller"),
        subject="Grüße aus Köln — 東京",
        text="Größe",
        attachments=(Attachment(b"x", "résumé 2024.pdf", "application/pdf"),),
    )
    assert composed.raw.isascii()
    assert b"=?utf-8?" in composed.raw  # RFC 2047
    assert b"filename*=utf-8''r%C3%A9sum%C3%A9%202024.pdf" in composed.raw  # RFC 2231
    msg = read(composed)
    assert msg["Subject"] == "Grüße aus Köln — 東京"
    assert msg["From"].addresses[0].display_name == "Jürgen Müller"
    attachment = next(msg.iter_attachments())
    assert attachment.get_filename() == "résumé 2024.pdf"
    assert msg.get_body(("plain",)).get_content().strip() == "Größe"


def test_idn_domain_becomes_a_labels_in_headers_and_envelope():
    composed = build(to=(Mailbox("ann@bücher.example"),), text="hi")
    assert composed.recipients == ("ann@xn--bcher-kva.example",)
    assert b"<ann@xn--bcher-kva.example>" in composed.raw or b"ann@xn--bcher-kva.example" in composed.raw


def test_non_ascii_local_part_needs_smtputf8():
    composed = build(to=(Mailbox("jürgen@example.com"),), text="hi")
    assert composed.smtputf8
    assert "jürgen@example.com".encode() in composed.raw


def test_extra_headers_are_kept():
    msg = read(build(text="hi", headers=(("List-Unsubscribe", "<mailto:u@acme.test>"), ("X-Campaign", "spring"))))
    assert msg["List-Unsubscribe"] == "<mailto:u@acme.test>" and msg["X-Campaign"] == "spring"


def test_own_message_id_is_used_and_bracketed():
    assert build(text="hi", message_id="abc@acme.test").message_id == "<abc@acme.test>"
    assert own_message_id("<x@y>") == "<x@y>"


# --- refusals -------------------------------------------------------------------------

INJECTIONS = {
    "subject": {"subject": "Hi\r\nBcc: victim@example.com"},
    "display name": {"to": (Mailbox("ann@example.com", "Ann\nBcc: v@example.com"),)},
    "from name": {"from_": Mailbox("support@acme.test", "Acme\r\nX: y")},
    "header value": {"headers": (("X-Tag", "a\r\nBcc: v@example.com"),)},
    "filename": {"attachments": (Attachment(b"x", "a\n.txt"),)},
    "content id": {"attachments": (Attachment(b"x", "a.png", "image/png", "cid\r\nX: y"),)},
}


@pytest.mark.parametrize("fields", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_header_injection_is_refused(fields):
    with pytest.raises(InvalidMessage) as exc:
        build(text="hi", **fields)
    assert exc.value.code == "headerInjection"


@pytest.mark.parametrize("name", ["Bad Name", "Colon:", "", "Ünï"])
def test_malformed_header_name_is_refused(name):
    with pytest.raises(InvalidMessage, match="header name"):
        build(text="hi", headers=((name, "v"),))


@pytest.mark.parametrize("name", ["Content-Type", "bcc", "Message-ID", "MIME-Version", "References"])
def test_reserved_header_is_refused(name):
    with pytest.raises(InvalidMessage, match="set by the bridge"):
        build(text="hi", headers=((name, "v"),))


@pytest.mark.parametrize("value", ["no-at-sign", "<a b@c>", "<a@b@c>", "<ü@b>"])
def test_malformed_message_id_is_refused(value):
    with pytest.raises(InvalidMessage):
        own_message_id(value)


def test_no_recipients_is_refused():
    with pytest.raises(InvalidMessage) as exc:
        build(to=(), text="hi")
    assert exc.value.code == "noRecipients"


def test_over_25_mib_is_refused_before_and_after_building():
    with pytest.raises(PayloadTooLarge):
        build(attachments=(Attachment(b"\0" * (MAX_MESSAGE_BYTES // 4 * 3 + 10), "big.bin"),))
    with pytest.raises(PayloadTooLarge):
        # 25 MiB of UTF-8 text passes the precheck; its transfer encoding pushes it over.
        build(text="é" * (MAX_MESSAGE_BYTES // 2))


# --- replies and forwards ---------------------------------------------------------------

ORIGINAL = Original(
    message_id="q1@example.net",
    subject="RE: Aw: Question",
    from_=Mailbox("bob@example.net", "Bob"),
    reply_to=(),
    to=(Mailbox("support@acme.test"), Mailbox("carol@example.org", "Carol")),
    cc=(Mailbox("dave@example.org"), Mailbox("CAROL@example.org")),
    references=("root@example.net",),
    date="2024-01-01T10:00:00Z",
    text="line one\n\nline two",
    html="<p>line one</p>",
    conversation_id="conv_abc",
    raw=b"From: bob@example.net\r\nSubject: Question\r\nMessage-ID: <q1@example.net>\r\n\r\nbody \xe9\r\n",
)


def reply(action=Action.REPLY, **fields):
    draft = Draft(**{"from_": ME, "text": "Thanks", "action": action, "original": ORIGINAL, **fields})
    return compose(draft, now=NOW, unique="r1")


@pytest.mark.parametrize(
    "subject,expected",
    [
        ("Question", "Re: Question"),
        ("Re: Question", "Re: Question"),
        ("RE: Re: re:Question", "Re: Question"),
        ("Aw: AW: Question", "Re: Question"),
        ("SV: Antw: Odp: Question", "Re: Question"),
        ("Re[2]: Question", "Re: Question"),
        ("Re(3): Question", "Re: Question"),
        ("Fwd: Question", "Re: Fwd: Question"),
        ("Re: Fwd: Re: Question", "Re: Fwd: Re: Question"),
        ("", "Re:"),
        ("Regarding the plan", "Re: Regarding the plan"),
    ],
)
def test_reply_subject_has_re_once(subject, expected):
    assert reply_subject(subject) == expected


@pytest.mark.parametrize(
    "subject,expected",
    [
        ("Question", "Fwd: Question"),
        ("FW: Fwd: Question", "Fwd: Question"),
        ("WG: Question", "Fwd: Question"),
        ("Re: Question", "Fwd: Re: Question"),
    ],
)
def test_forward_subject_has_fwd_once(subject, expected):
    assert forward_subject(subject) == expected


def test_reply_threads_and_keeps_the_conversation():
    composed = reply()
    msg = read(composed)
    assert msg["Subject"] == "Re: Question"
    assert msg["In-Reply-To"] == "<q1@example.net>"
    assert msg["References"] == "<root@example.net> <q1@example.net>"
    assert composed.recipients == ("bob@example.net",)
    assert composed.conversation_id == "conv_abc"


def test_reply_prefers_reply_to_and_own_fields_win():
    with_reply_to = Original(
        **{
            **{f: getattr(ORIGINAL, f) for f in ORIGINAL.__dataclass_fields__},
            "reply_to": (Mailbox("help@example.net"),),
        }
    )
    assert reply(original=with_reply_to).recipients == ("help@example.net",)
    composed = reply(to=(Mailbox("x@example.com"),), subject="Custom")
    assert composed.recipients == ("x@example.com",) and read(composed)["Subject"] == "Custom"


def test_reply_all_adds_everyone_but_us_once():
    composed = reply(Action.REPLY_ALL)
    assert composed.recipients == ("bob@example.net", "carol@example.org", "dave@example.org")
    assert read(composed)["Cc"].addresses[0].username == "carol"


def test_reply_to_our_own_message_goes_to_its_recipients():
    own = Original(message_id="m@acme.test", subject="Offer", from_=ME, to=(ANN,))
    assert reply(original=own).recipients == ("ann@example.com",)


def test_reply_quote_prefixes_lines_and_blockquotes_html():
    msg = read(reply(quote=True, html="<p>Thanks</p>"))
    text = msg.get_body(("plain",)).get_content()
    assert "wrote:\n> line one\n>\n> line two" in text.replace("\r\n", "\n")
    assert '<blockquote type="cite"><p>line one</p></blockquote>' in msg.get_body(("html",)).get_content()


def test_forward_attaches_the_original_byte_for_byte_and_starts_a_conversation():
    composed = reply(Action.FORWARD, to=(Mailbox("eve@example.com"),))
    msg = read(composed)
    assert msg["Subject"] == "Fwd: RE: Aw: Question"
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert composed.conversation_id != "conv_abc"
    assert ORIGINAL.raw in composed.raw  # 8-bit original unchanged inside message/rfc822
    part = next(p for p in msg.walk() if p.get_content_type() == "message/rfc822")
    assert part["Content-Transfer-Encoding"] == "8bit"


def test_forward_inline_quotes_headers_and_body():
    msg = read(reply(Action.FORWARD, to=(Mailbox("eve@example.com"),), quote=True))
    assert structure(msg) == ("multipart/alternative", "text/plain", "text/html")
    text = msg.get_body(("plain",)).get_content()
    assert "---------- Forwarded message ---------" in text and "From: Bob <bob@example.net>" in text
    assert "line two" in text


def test_long_reference_chains_keep_root_and_newest():
    chain = tuple(f"r{i}@x" for i in range(30))
    refs = thread_references(Original(message_id="new@x", references=chain))
    assert len(refs) == 20 and refs[0] == "r0@x" and refs[-1] == "new@x" and refs[-2] == "r29@x"


def test_thread_references_without_duplicates():
    assert thread_references(Original(message_id="a@x", references=("a@x", "b@x"))) == ("a@x", "b@x")


# --- the direct writer agrees with the stdlib ------------------------------------------------

LONG_WORD = "x" * 1200
DIRECT = {
    "plain ascii": {"text": "hi"},
    "html only": {"html": "<p>hi</p>"},
    "alternative": {"text": "hi", "html": "<p>hi</p>"},
    "empty body": {},
    "empty text": {"text": ""},
    "long ascii lines": {"text": "word " * 60 + "\n" + "y" * 200},
    "latin text": {"text": "Größe und Übermaß\r\nzweite Zeile\rdritte", "html": "<p>Größe</p>"},
    "cjk text": {"text": "東京の天気は晴れです。" * 20},
    "many lines": {"text": "\n".join(f"é line {i}" for i in range(40))},
    "boundary lookalike": {"text": "--=_mb_u1_0\n--=_mb_u1_0--", "html": "<p>=_mb_u1_0</p>"},
    "quoted and special names": {
        "to": (
            Mailbox("a@example.com", "Ann, B."),
            Mailbox("b@example.com", 'Jürgen "J" Müller'),
            Mailbox("c@example.com", "O'Brien"),
            Mailbox("d@example.com", "back\\slash"),
            Mailbox("e@example.com", "  spaced  out "),
            Mailbox("f@example.com", "=?utf-8?q?fake?="),
            Mailbox("g@bücher.example", "東京 太郎"),
        ),
        "text": "hi",
    },
    "many recipients": {"to": tuple(Mailbox(f"user{i}@example.com", f"User {i}") for i in range(120)), "text": "hi"},
    "long names": {
        "to": (Mailbox("a@example.com", "Name " * 50), Mailbox("b@example.com", "Grüße " * 40)),
        "cc": (Mailbox("c@example.com"),),
        "reply_to": (Mailbox("r@example.com", "Replies"),),
        "text": "hi",
    },
    "subjects": {"subject": "  leading, double  spaces and trailing  ", "text": "hi"},
    "long subject": {"subject": "a fairly long subject line " * 12, "text": "hi"},
    "unfoldable subject": {"subject": f"short {LONG_WORD} end", "text": "hi"},
    "non-ascii subject": {"subject": "Grüße aus Köln — 東京 " * 6, "text": "hi"},
    "encoded-word lookalike subject": {"subject": "=?utf-8?q?not_encoded?=", "text": "hi"},
    "control character subject": {"subject": "tab\there and a bell\x07", "text": "hi"},
    "empty subject": {"subject": "", "text": "hi"},
    "extra headers": {
        "headers": (("List-Unsubscribe", "<mailto:u@acme.test>, <https://acme.test/u?id=1>"), ("X-Long", "v " * 80)),
        "text": "hi",
    },
    "threading": {"in_reply_to": "q1@example.net", "references": tuple(f"r{i}@example.net" for i in range(20))},
}
ADDRESS_FIELDS = {"From": "from_", "To": "to", "Cc": "cc", "Reply-To": "reply_to"}


def _name(value):
    # The stdlib's phrase parser puts a space between adjacent encoded-words (RFC 2047 § 6.2 says to drop
    # it), so a long non-ASCII name split into several words reads back with extra spaces there.
    return " ".join(value.split()) if not value.isascii() else value


def _text(value):
    return value.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n"


@pytest.mark.parametrize("fields", DIRECT.values(), ids=DIRECT.keys())
def test_direct_writer_reads_back_exactly_what_was_given(fields):
    # Read back with the stdlib parser: every header value and body as given, no defects, the same MIME
    # structure as the stdlib build; CRLF only, 7-bit clean, no line over 998 octets, and header lines over
    # 78 only where they hold a single unbreakable token.
    draft = Draft(**{"from_": ME, "to": (ANN,), "subject": "Hello", **fields})
    composed = compose(draft, now=NOW, unique="u1")
    stdlib = compose_module._with_stdlib(
        draft, message_id=composed.message_id, now=NOW, unique="u1", utf8=False, forwarded=None
    )
    msg = read(composed)
    assert structure(msg) == structure(email.message_from_bytes(stdlib, policy=email.policy.default))
    assert [d for part in msg.walk() for d in part.defects] == []
    for header, field in ADDRESS_FIELDS.items():
        boxes = getattr(draft, field)
        boxes = (boxes,) if isinstance(boxes, Mailbox) else boxes
        want = tuple((_name(b.name), compose_module.ascii_domain(b.address)) for b in boxes)
        got = tuple((_name(a.display_name), a.addr_spec) for a in msg[header].addresses) if msg[header] else ()
        assert got == want, header
    assert msg["Subject"] == draft.subject.lstrip(" ")  # parsers drop the whitespace after the colon
    assert msg["Date"] == "Fri, 01 Mar 2024 12:00:00 +0000" and msg["Message-ID"] == composed.message_id
    for name, value in draft.headers:
        assert msg[name] == value
    assert msg["In-Reply-To"] == (f"<{draft.in_reply_to}>" if draft.in_reply_to else None)
    assert msg["References"] == (" ".join(f"<{r}>" for r in draft.references) if draft.references else None)
    for subtype in ("plain", "html"):
        given = getattr(draft, "text" if subtype == "plain" else "html")
        if given is None and subtype == "plain" and draft.html is None:
            given = ""
        body = msg.get_body((subtype,))
        assert (body.get_content().replace("\r\n", "\n") if body is not None else None) == (
            _text(given) if given is not None else None
        )
    raw = composed.raw
    assert raw.isascii() and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        value = line if line.startswith(b" ") else line.split(b":", 1)[1]
        assert len(line) <= 78 or b" " not in value.strip(), line


def test_direct_writer_is_used_for_plain_messages():
    # The boundary derives from the caller's unique token: the stdlib's own looks like "===============123==".
    assert b'boundary="=_mb_u1_0"' in build(text="hi", html="<p>hi</p>").raw
    attachment = (Attachment(b"x", "a.txt", "text/plain"),)
    assert b"===============" in build(text="hi", attachments=attachment).raw
