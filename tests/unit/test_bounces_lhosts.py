"""One reporting MTA's own message tables (``bridge.bounces.lhosts``: Exim, qmail), issue 11.

The conventions are the taxonomy's per-MTA parsers' (Sisimai's
``Lhost::Exim`` and ``Lhost::qmail`` tables): once a report is known to be
Exim's or qmail-send's, the MTA's own fixed verdicts give the reason before
the generic order reads the words. The reports are synthetic, built here
from the MTAs' source strings (deliver.c, qmail-send.c, qmail-remote.c).
"""

from __future__ import annotations

import pytest

from bridge.bounces import Reason, Report, classify
from bridge.bounces.lhosts import EXIM, QMAIL, identify, lhost_reason
from bridge.mail.message import parse

R = Reason


def qmail(error: str) -> bytes:
    """A qmail-send failure notice for rcpt@example.com whose error is ``error``."""
    return (
        "From: MAILER-DAEMON@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: failure notice\n"
        "\n"
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n"
        "\n"
        f"<rcpt@example.com>:\n{error}\n"
        "\n"
        "--- Below this line is a copy of the message.\n"
        "\n"
        "From: sender@example.org\nTo: rcpt@example.com\nSubject: hi\n\nhello\n"
    ).encode()


def exim(error: str, *, signed: bool = True) -> bytes:
    """An Exim failure notice for rcpt@example.com; ``signed=False`` drops what identifies Exim."""
    first = "This message was created automatically by mail delivery software.\n\n" if signed else ""
    header = "X-Failed-Recipients: rcpt@example.com\n" if signed else ""
    return (
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        f"{header}"
        "\n"
        f"{first}"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        f"  rcpt@example.com\n    {error}\n"
        "\n"
        "------ This is a copy of the message, including all the headers. ------\n"
        "\n"
        "From: sender@example.org\nTo: rcpt@example.com\nSubject: hi\n\nhello\n"
    ).encode()


def reason(raw: bytes) -> Reason:
    report: Report | None = classify(parse(raw))
    assert report is not None and len(report.recipients) == 1
    return report.recipients[0].reason


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # qmail-remote: no MX and no A record is a domain that takes no mail
        # (the generic words would say hostunknown).
        ("Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", R.NOTACCEPT),
        # qmail-remote could not connect: a network error, not the queue's expiry.
        ("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)", R.NETWORKERROR),
        # qmail-ldap: the account is switched off (suspend, not a filter).
        ("Mailaddress is administratively disabled. (#5.2.1)", R.SUSPEND),
        # qmail-local's "Unable to ...": the delivery system failed.
        ("Unable to chdir to maildir. (#4.2.1)", R.SYSTEMERROR),
    ],
    ids=["no-mx-notaccept", "no-connection-networkerror", "ldap-disabled-suspend", "unable-to-systemerror"],
)
def test_qmail_table_decides_before_the_generic_order(error: str, expected: Reason) -> None:
    assert reason(qmail(error)) is expected


def test_exim_user_not_found_is_an_unknown_user_only_in_an_exim_report() -> None:
    # Exim's router ("getpwnam() returned NULL (user not found)") looked the
    # user up itself: no remote filter was involved.
    assert reason(exim("user not found")) is R.USERUNKNOWN
    # The same words with no stage and no Exim signature: the generic order's
    # reading (an unknown stage may be DATA, so filtered) is kept.
    assert reason(exim("user not found", signed=False)) is R.FILTERED


def test_identify_by_the_mtas_own_signatures() -> None:
    assert identify("Hi. This is the qmail-send program at mx.example.net.", "") == QMAIL
    assert identify("This message was created automatically by mail delivery software.", "") == EXIM
    assert identify("A message that you sent could not be delivered.", "rcpt@example.com") == EXIM
    assert identify("This is the mail system at host mx.example.net.", "") == ""


@pytest.mark.parametrize(
    ("lhost", "error", "expected"),
    [
        (EXIM, "SMTP error from remote mail server after EHLO mx.example.net: 550 Access denied", R.BLOCKED),
        (EXIM, "SMTP error from remote mail server after MAIL FROM:<s@example.org>: 550 no", None),
        (EXIM, "all relevant MX records point to non-existent hosts", R.HOSTUNKNOWN),
        (EXIM, "an MX or SRV record indicated no SMTP service", R.NOTACCEPT),
        (EXIM, 'Too many "Received" headers - suspected mail loop', R.CONTENTERROR),
        (EXIM, "retry timeout exceeded", R.EXPIRED),
        (EXIM, "Child process of address_pipe transport returned 69 (pipe to |/bin/x)", R.MAILERERROR),
        (QMAIL, "Connected to 192.0.2.1 but my name was rejected. Remote host said: 550 no", R.BLOCKED),
        (QMAIL, "Temporary failure in LDAP lookup. (#4.4.3)", R.SYSTEMERROR),
        (QMAIL, "I'm not going to try again; this message has been in the queue too long.", R.EXPIRED),
        # A refusal of RCPT TO that outlived the queue: the words decide.
        (
            QMAIL,
            "192.0.2.1 does not like recipient. Remote host said: 450 busy. "
            "I'm not going to try again; this message has been in the queue too long.",
            None,
        ),
        # Another MTA's report: no table applies.
        ("", "user not found", None),
    ],
)
def test_lhost_reason_tables(lhost: str, error: str, expected: Reason | None) -> None:
    assert lhost_reason(lhost, error) is expected
