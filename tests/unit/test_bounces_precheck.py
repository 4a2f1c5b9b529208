"""The early exit of bridge.bounces for ordinary mail: fast, and never a different answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.bounces import classify, precheck, textbounce
from bridge.bounces.parts import report_texts
from bridge.mail.message import parse

CORPUS = Path(__file__).resolve().parents[1] / "corpora"

ORDINARY = (
    b"From: Alice <alice@example.org>\n"
    b"To: bob@example.com\n"
    b"Subject: Lunch on Friday?\n"
    b"Message-ID: <lunch.1@example.org>\n"
    b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/alternative; boundary="alt"\n'
    b"\n"
    b"--alt\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"\n"
    b"Shall we meet at noon? The parcel was delivered yesterday.\n"
    b"--alt\n"
    b"Content-Type: text/html; charset=utf-8\n"
    b"\n"
    b"<p>Shall we meet at noon?</p>\n"
    b"--alt--\n"
)


def gate(raw: bytes) -> bool:
    msg = parse(raw).tree
    decoded: dict[int, str] = {}
    body = "\n".join(report_texts(msg, decoded))
    return precheck.cannot_be_report(msg, body, decoded)


def test_ordinary_mail_exits_early() -> None:
    assert gate(ORDINARY) is True
    assert classify(parse(ORDINARY)) is None


def _with(headers: str = "", plain: str = "Shall we meet at noon?", html: str = "<p>Hi</p>") -> bytes:
    return (
        "From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: Lunch\n" + headers + "MIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="alt"\n\n'
        f"--alt\nContent-Type: text/plain; charset=utf-8\n\n{plain}\n"
        f"--alt\nContent-Type: text/html; charset=utf-8\n\n{html}\n--alt--\n"
    ).encode()


@pytest.mark.parametrize(
    "raw",
    [
        _with(headers="X-Failed-Recipients: bob@example.com\n"),
        _with(headers="Auto-Submitted: auto-replied\n"),
        _with(headers="X-Autoreply: yes\n"),
        _with(plain="Your message could not be delivered to bob@example.com."),
        # Non-ASCII text takes the regex path rather than the word test.
        _with(plain="Votre message n'a pas été remis. Transcript of session follows."),
        _with(plain='{"notificationType":"Bounce","bounce":{}}'),
        # Fields pasted in a part that is not part of the report text (HTML).
        _with(html="Final-Recipient: rfc822; bob@example.com\nStatus: 5.1.1\n"),
        (b"From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail\n\nbob@example.com: User unknown\n"),
        (
            b"From: staff@hotmail.com\nSubject: complaint about message from 192.0.2.1\n"
            b'Content-Type: multipart/mixed; boundary="m"\n\n--m\nContent-Type: message/rfc822\n\n'
            b"From: a@example.org\nTo: b@example.com\n\nhello\n--m--\n"
        ),
        (
            b'From: a@example.org\nContent-Type: multipart/report; boundary="r"\n\n--r\n'
            b"Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n--r--\n"
        ),
    ],
    ids=[
        "x-failed-recipients",
        "auto-submitted",
        "x-autoreply",
        "strong-phrase",
        "strong-phrase-non-ascii",
        "ses-json",
        "pasted-dsn-in-html",
        "daemon-sender",
        "forwarded-complaint",
        "feedback-report",
    ],
)
def test_any_sign_of_a_report_takes_the_full_path(raw: bytes) -> None:
    assert gate(raw) is False


def test_strong_words_cover_every_strong_phrase() -> None:
    # The word test in has_strong_phrase is only exact if each alternative
    # of the phrase regex contains one of the words.
    pattern = textbounce._STRONG_RE.pattern
    alternatives, depth, current = [], 0, ""
    for char in pattern:
        depth += char == "("
        depth -= char == ")"
        if char == "|" and depth == 0:
            alternatives.append(current)
            current = ""
        else:
            current += char
    alternatives.append(current)
    for alternative in alternatives:
        literal = re.sub(r"\(\?:[^)]*\)\??", " ", alternative).lower()
        assert any(word in literal for word in textbounce.STRONG_WORDS), alternative


def test_early_exit_never_changes_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".eml", ".msg", ".message") and p.is_file())
    assert len(files) > 500, f"corpus not found at {CORPUS}"
    parsed = [parse(p.read_bytes()) for p in files]
    fast = [classify(m) for m in parsed]
    monkeypatch.setattr(precheck, "cannot_be_report", lambda *args: False)
    assert [classify(m) for m in parsed] == fast
