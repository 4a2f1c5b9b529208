"""Family conventions of bridge.bounces (``families``), on synthetic reports written here.

Each family gets a report in its own shape (the software's notice, DSN
fields, From address or remote host: the signs ``families.identify`` reads)
and a control: the same words without the family's signs keep the generic
reading, so a rule cannot leak to other senders.
"""

from __future__ import annotations

from bridge.bounces import Kind, Reason, classify
from bridge.bounces.model import BounceRecipient
from bridge.mail.message import parse

R = Reason


def rows(raw: str) -> list[BounceRecipient]:
    report = classify(parse(raw.encode()))
    assert report is not None and report.kind is Kind.BOUNCE
    return list(report.recipients)


def only(raw: str) -> BounceRecipient:
    (row,) = rows(raw)
    return row


def dsn_report(
    *,
    sender: str = "MAILER-DAEMON@mx.example.net",
    reporting: str = "mx.example.net",
    notice: str = "The message could not be delivered.",
    recipient: str = "rcpt@example.com",
    status: str = "5.0.0",
    diagnostic: str = "",
    remote: str = "",
    action: str = "failed",
    extra: str = "",
    headers: str = "",
) -> str:
    """A multipart/report (RFC 3464) for one recipient, with optional vendor fields."""
    fields = [f"Final-Recipient: rfc822; {recipient}", f"Action: {action}", f"Status: {status}"]
    if remote:
        fields.append(f"Remote-MTA: dns; {remote}")
    if diagnostic:
        fields.append(f"Diagnostic-Code: smtp; {diagnostic}")
    if extra:
        fields.append(extra)
    return (
        f"From: {sender}\n"
        "To: sender@example.org\n"
        "Subject: Delivery report\n"
        f"{headers}"
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
        f"Reporting-MTA: dns; {reporting}\n"
        "\n" + "\n".join(fields) + "\n"
        "\n"
        "--b1\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "From: sender@example.org\n"
        f"To: {recipient}\n"
        "Message-ID: <original.1@example.org>\n"
        "\n"
        "--b1--\n"
    )


# --- PowerMTA: its X.2.1 is a disabled mailbox, whatever the remote said.


def test_powermta_x21_is_suspend() -> None:
    raw = dsn_report(
        reporting="pmta.example.net",
        status="5.2.1 (mailbox disabled, not accepting messages)",
        diagnostic="550 5.2.1 <rcpt@example.com>... Mailbox Unknown",
        extra="X-PowerMTA-BounceCategory: bad-mailbox",
    )
    row = only(raw)
    assert (row.status, row.reason, row.hard) == ("5.2.1", R.SUSPEND, False)


def test_x21_with_unknown_user_elsewhere_keeps_generic_reading() -> None:
    raw = dsn_report(status="5.2.1", diagnostic="550 5.2.1 <rcpt@example.com>... Mailbox Unknown")
    assert only(raw).reason is R.FILTERED


# --- OpenSMTPD: the fixed failure string names the cause, also in a warning.


def opensmtpd(subject: str, intro: str, line: str) -> str:
    return (
        "From: Mailer Daemon <MAILER-DAEMON@relay.example.net>\n"
        "To: sender@example.org\n"
        f"Subject: Delivery status notification: {subject}\n"
        "\n"
        "    Hi!\n"
        "\n"
        "    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n"
        "\n"
        f"    {intro}\n"
        "\n"
        f"{line}\n"
        "\n"
        "    Please note that this is only a temporary failure report.\n"
        "    The message is kept in the queue for up to 7 days.\n"
        "\n"
        "    Below is a copy of the original message:\n"
        "\n"
        "Message-ID: <original.3@example.org>\n"
        "From: sender@example.org\n"
        "To: rcpt@example.com\n"
        "Subject: hello\n"
    )


def test_opensmtpd_warning_names_the_cause() -> None:
    intro = "A message is delayed for more than 10 minutes for the following\n    list of recipients:"
    assert only(opensmtpd("warning", intro, "rcpt@example.com: Network error on destination MXs")).reason is (
        R.NETWORKERROR
    )
    assert only(opensmtpd("delayed", intro, "rcpt@example.com: Envelope expired")).reason is R.EXPIRED
    row = only(opensmtpd("delayed", intro, "rcpt@example.com: No MX found for domain"))
    assert (row.reason, row.hard) == (R.HOSTUNKNOWN, True)


def test_opensmtpd_failure_strings() -> None:
    intro = "An error has occurred while attempting to deliver a message for\n    the following list of recipients:"
    assert only(opensmtpd("error", intro, "rcpt@example.com: Domain does not accept mail")).reason is R.NOTACCEPT
    assert only(opensmtpd("error", intro, "rcpt@example.com: Could not retrieve credentials")).reason is (
        R.SECURITYERROR
    )
    # A remote SMTP reply quoted by OpenSMTPD keeps the generic reading.
    reply = "rcpt@example.com: 550 5.2.2 <rcpt@example.com>: Recipient address rejected: Mailbox full"
    assert only(opensmtpd("error", intro, reply)).reason is R.MAILBOXFULL


# --- EZweb (KDDI/au): the gateway's "account is disabled" sentence wins.


def test_ezweb_disabled_account_over_remote_unknown() -> None:
    notice = "The user(s) account is disabled.\n\n<rcpt@ezweb.ne.jp>: 550 user unknown (in reply to RCPT TO command)"
    raw = dsn_report(
        sender="Mail Administrator <Postmaster@ezweb.ne.jp>",
        reporting="mta.ezweb.ne.jp",
        recipient="rcpt@ezweb.ne.jp",
        notice=notice,
    )
    assert only(raw).reason is R.SUSPEND


def test_disabled_sentence_from_another_sender_does_not_override() -> None:
    notice = "The user(s) account is disabled.\n\n<rcpt@example.com>: 550 user unknown (in reply to RCPT TO command)"
    assert only(dsn_report(notice=notice)).reason is R.USERUNKNOWN


# --- KDDI/au inbound: "550 <address>: User unknown" is an unknown address.


def test_kddi_echoed_unknown_user_without_stage() -> None:
    reply = "550 <rcpt@ezweb.ne.jp>: User unknown"
    assert only(dsn_report(recipient="rcpt@ezweb.ne.jp", diagnostic=reply)).reason is R.USERUNKNOWN
    by_host = dsn_report(diagnostic="550 <rcpt@example.com>: User unknown", remote="mx1.ezweb.ne.jp")
    assert only(by_host).reason is R.USERUNKNOWN
    # Its empty-address form is a filter's refusal, KDDI or not.
    assert only(dsn_report(recipient="rcpt@au.com", diagnostic="550 : User unknown")).reason is R.FILTERED


def test_echoed_unknown_user_elsewhere_is_filtered() -> None:
    assert only(dsn_report(diagnostic="550 <rcpt@example.com>: User unknown")).reason is R.FILTERED


# --- Zoho Mail: a transient reply code in its report is the queue-time warning.


def zoho(line: str, *, mailer: bool = True) -> str:
    return (
        "From: mailer-daemon@mail.example.net\n"
        "To: sender@example.org\n"
        "Subject: Undelivered Mail Returned to Sender\n" + ("X-ZohoMail: Si CHF_MF_NL SS_10\n" if mailer else "") + "\n"
        "A message that you sent could not be delivered to one or more of its recipients. "
        "This is a permanent error.\n"
        "\n"
        f"{line}\n"
        "\n"
        "Received:from mail.example.net by mx.example.net with SMTP id 1234\n"
        "Message-ID:<original.4@example.org>\n"
        "From:sender@example.org\n"
        "Subject:hello\n"
    )


def test_zoho_transient_code_is_expired_and_delayed() -> None:
    row = only(zoho("rcpt@example.com Error, ERROR_CODE :451, ERROR_CODE :, Connection refused."))
    assert (row.reason, row.action, row.reply_code) == (R.EXPIRED, "delayed", "451")
    # A permanent code keeps its generic reading.
    assert only(zoho("rcpt@example.com Error, ERROR_CODE :552, ERROR_CODE :Mailbox is full")).reason is (R.MAILBOXFULL)


def test_transient_code_without_zoho_signs_keeps_generic_reading() -> None:
    row = only(zoho("rcpt@example.com Error, ERROR_CODE :451, ERROR_CODE :, Connection refused.", mailer=False))
    assert (row.reason, row.action) == (R.NETWORKERROR, "failed")


# --- AOL: X.4.4 from its relays is an unreachable (unknown) host.


def test_aol_x44_is_hostunknown() -> None:
    reply = "Name service error for name=example.com type=MX: Malformed or unexpected name server reply"
    raw = dsn_report(sender="MAILER-DAEMON@AOL.com (Mail Delivery System)", status="5.4.4", diagnostic=reply)
    row = only(raw)
    assert (row.reason, row.hard) == (R.HOSTUNKNOWN, True)
    by_host = dsn_report(reporting="omr-a01.mx.aol.com", status="5.4.4", diagnostic=reply)
    assert only(by_host).reason is R.HOSTUNKNOWN


def test_x44_network_wording_elsewhere_stays_network() -> None:
    reply = "Name service error for name=example.com type=MX: Malformed or unexpected name server reply"
    assert only(dsn_report(status="5.4.4", diagnostic=reply)).reason is R.NETWORKERROR
