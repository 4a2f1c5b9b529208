"""General conventions of bridge.bounces (issue 11), each on a small report built here.

Every test names the convention it pins (RFC 3464 fields, RFC 3463 codes,
the taxonomy's own rules), so that a rule fitted to one corpus file cannot
silently replace it. The reports are synthetic: the words are ordinary MTA
wordings, not copies of corpus files.
"""

from __future__ import annotations

import pytest

from bridge.bounces import Reason, Report, classify
from bridge.bounces.codes import find_status
from bridge.bounces.reasons import coarse, report_action
from bridge.mail.message import parse

R = Reason


def dsn(fields: str, notice: str = "The message could not be delivered.", original: str = "") -> bytes:
    """A minimal RFC 3464 report whose per-recipient part is ``fields``; ``original`` adds returned headers."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n'
        "\n"
        "--b1\n"
        "Content-Type: text/plain\n"
        "\n"
        f"{notice}\n"
        "\n"
        "--b1\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "\n"
        "Final-Recipient: rfc822; rcpt@example.com\n"
        f"{fields}"
        "\n"
        "--b1\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "From: sender@example.org\n"
        "To: rcpt@example.com\n"
        "Message-ID: <original.1@example.org>\n"
        f"{original}"
        "\n"
        "--b1--\n"
    ).encode()


def text_bounce(body: str) -> bytes:
    """A plain-text bounce (no delivery-status part) for rcpt@example.com."""
    return (
        "From: MAILER-DAEMON@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: failure notice\n"
        "\n"
        "This is the mail system at host mx.example.net.\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n"
        "\n"
        f"<rcpt@example.com>: {body}\n"
    ).encode()


def one(raw: bytes) -> tuple[str, str, Reason, bool]:
    report: Report | None = classify(parse(raw))
    assert report is not None and len(report.recipients) == 1
    row = report.recipients[0]
    return row.action, row.status, row.reason, row.hard


# --- action: RFC 3464 § 2.3.3 Action field, completed by the taxonomy's convention


@pytest.mark.parametrize(
    ("stated", "reason", "action"),
    [
        ("failed", R.USERUNKNOWN, "failed"),  # stated: kept
        ("delayed", R.MAILBOXFULL, "delayed"),  # stated: kept
        ("failed", R.EXPIRED, "delayed"),  # expired is reported as delayed
        ("", R.EXPIRED, "delayed"),
        ("", R.NETWORKERROR, "failed"),  # no Action field: failed
        ("delivered", R.DELIVERED, "delivered"),
    ],
)
def test_report_action_follows_the_action_field_and_expired(stated: str, reason: Reason, action: str) -> None:
    assert report_action(stated, reason) == action


def test_dsn_that_gave_up_after_the_queue_lifetime_is_delayed() -> None:
    # RFC 3463 X.4.7 "delivery time expired": the failure is the delay.
    raw = dsn("Action: failed\nStatus: 4.4.7\nDiagnostic-Code: smtp; 554 4.4.7 Message expired\n")
    assert one(raw)[:3] == ("delayed", "4.4.7", R.EXPIRED)


def test_text_bounce_without_action_field_is_failed() -> None:
    raw = text_bounce("host mx.example.com[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)")
    assert one(raw) == ("failed", "5.1.1", R.USERUNKNOWN, True)


# --- status: RFC 3463 codes, the diagnostic's own code before the Status field


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>", "4.4.2"),
        ("550 5.0.0 Rejected: 5.7.1 Client host blocked", "5.7.1"),  # X.0.0 says only the class
        ("554 4.4.7 Message expired", "4.4.7"),  # no better code: kept
        ("5.1.0 - Unknown address error 550-'5.2.2 <a@b.example>... Mailbox Full'", "5.2.2"),  # X.Y.0: subject only
        ("250 2.1.5 Ok, then 550 5.1.1 User unknown", "5.1.1"),  # the failure before a success
    ],
)
def test_find_status_prefers_the_actual_problem_to_x47_and_xy0(text: str, status: str) -> None:
    # RFC 3463 § 3.5 (X.4.7: "the code for the actual problem ... should be
    # returned rather than this code") and § 3.1-3.9 (X.Y.0: "other or
    # undefined" status, only the class or the subject).
    assert find_status(text) == status


def test_diagnostic_code_names_the_status_the_summary_field_does_not() -> None:
    # RFC 3464 § 2.3.6: Diagnostic-Code is what the remote actually said.
    raw = dsn("Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.7.1 IP address blacklisted\n")
    assert one(raw)[1] == "5.7.1"
    raw = dsn("Action: failed\nStatus: 4.4.7\nDiagnostic-Code: smtp; 421 4.4.2 Connection timed out\n")
    assert one(raw)[1] == "4.4.2"


# --- reason: the status code's subject when no wording decides


def test_unexplained_security_subject_is_a_security_or_policy_refusal() -> None:
    # RFC 3463 § 3.8: X.7.X "security or policy status"; no words say more.
    raw = dsn("Action: failed\nStatus: 5.7.0\nDiagnostic-Code: smtp; 550 5.7.0 Zq-17 xyzzy\n")
    assert one(raw) == ("failed", "5.7.0", R.SECURITYERROR, False)


@pytest.mark.parametrize(
    ("guess", "said"),
    [
        (R.SPAMDETECTED, R.BLOCKED),
        (R.REQUIREPTR, R.BLOCKED),
        (R.TOOMANYCONN, R.SYSTEMERROR),
        (R.HOSTUNKNOWN, R.USERUNKNOWN),
        (R.EXCEEDLIMIT, R.MESGTOOBIG),
        (R.EXPIRED, R.EXPIRED),
        (R.UNDEFINED, R.UNDEFINED),
    ],
)
def test_a_guessed_reason_is_said_as_its_class(guess: Reason, said: Reason) -> None:
    # A resemblance to a documented wording (nearest.py) tells the class, not
    # the exact name: the class's catch-all name says no more than is known.
    assert coarse(guess) is said


def test_undecided_is_onhold_with_an_error_text_and_undefined_without() -> None:
    # The taxonomy's two "cannot decide" names (Sisimai's Reason.get):
    # onhold when the report gives an error text nothing explains.
    raw = dsn("Action: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 xyzzy plugh\n", notice="Hello.")
    assert one(raw)[2] is R.ONHOLD
    raw = dsn("Action: failed\nStatus: 5.0.0\n", notice="Hello.")
    assert one(raw)[2] is R.UNDEFINED


def test_an_unexplained_x0z_reply_is_a_syntax_error() -> None:
    # RFC 5321 § 4.2.1: x0z replies are the "Syntax" category.
    raw = dsn("Action: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 501 xyzzy plugh\n", notice="Hello.")
    assert one(raw)[2] is R.SYNTAXERROR
    raw = dsn("Action: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 xyzzy plugh\n", notice="Hello.")
    assert one(raw)[2] is R.ONHOLD  # x5z: mailbox category, says nothing more
