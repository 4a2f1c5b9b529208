"""The last-resort reason: the nearest documented wording, when no rule decided."""

from __future__ import annotations

import pytest

from bridge.bounces import Kind, Reason, classify
from bridge.bounces.nearest import nearest_reason
from bridge.bounces.reasons import classify_reason
from bridge.mail.message import parse

# Wordings no table lists: the rules leave them undefined, the nearest
# documented example names the trouble.
UNLISTED = [
    ("550 the mailbox storage allotment for this person is used up", Reason.MAILBOXFULL),
    ("421 too many simultaneous sessions from your address", Reason.TOOMANYCONN),
]


@pytest.mark.parametrize(("text", "reason"), UNLISTED)
def test_an_unlisted_wording_gets_the_reason_of_its_nearest_documented_example(text: str, reason: Reason) -> None:
    assert classify_reason(text, "5.0.0", "failed") is Reason.UNDEFINED
    assert nearest_reason(text) is reason


@pytest.mark.parametrize(
    "text",
    [
        "hello world",  # one rare word shared with "503 5.5.2 Send hello first" is a coincidence
        "This is the mail system at host mx.example.org.",  # boilerplate only
        "",
        "12345 <a@b.example> [192.0.2.1] mx.example.org",  # parties and numbers, no words
    ],
)
def test_no_reason_without_two_telling_words(text: str) -> None:
    assert nearest_reason(text) is None


def _dsn(diagnostic: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\nTo: a@example.org\nSubject: Undelivered Mail Returned to Sender\n"
        'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; bob@example.net\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; {diagnostic}\n"
        "\n--b--\n"
    ).encode()


def test_a_report_with_an_unlisted_wording_is_not_undefined() -> None:
    report = classify(parse(_dsn("550 the mailbox storage allotment for this person is used up")))
    assert report is not None and report.kind is Kind.BOUNCE
    [recipient] = report.recipients
    assert recipient.recipient == "bob@example.net"
    assert recipient.reason is Reason.MAILBOXFULL


def test_a_report_with_no_telling_words_stays_undecided() -> None:
    # Nothing close: no guess. An error text nothing explains is the
    # taxonomy's "onhold" (see test_bounces_conventions).
    report = classify(parse(_dsn("550 xyzzy plugh")))
    assert report is not None
    assert [r.reason for r in report.recipients] == [Reason.ONHOLD]
