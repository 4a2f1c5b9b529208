"""Which addresses of a bounce are its failed recipients (issue 11), each convention on a small report built here.

The reports are synthetic: ordinary MTA wordings, not copies of corpus files.
Several conventions were checked against Sisimai's library code (BSD-2-Clause,
github.com/sisimai/p5-sisimai, lib/Sisimai/Lhost/*.pm and Sisimai::Address).
"""

from __future__ import annotations

import base64

import pytest

from bridge.bounces import Report, classify
from bridge.mail.message import parse


def recipients_of(raw: str) -> list[str]:
    report: Report | None = classify(parse(raw.encode()))
    assert report is not None
    return [r.recipient for r in report.recipients]


def test_header_summary_of_the_original_does_not_name_a_failed_recipient() -> None:
    # Exchange and PMDF repeat the original's To/Subject/Sent fields before
    # the list of failed recipients (Sisimai's Exchange2003 reads them as
    # the "connection header", not as a recipient): the original's To: is
    # whom the sender wrote to, the list after it is who failed.
    raw = (
        "From: System Administrator <postmaster@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Undeliverable: hello\n"
        "\n"
        "Your message\n"
        "\n"
        "  To:      list@example.com\n"
        "  Subject: hello\n"
        "  Sent:    Thu, 29 Apr 2010 18:14:35 +0000\n"
        "\n"
        "did not reach the following recipient(s):\n"
        "\n"
        "rcpt@example.net on Thu, 29 Apr 2010 18:14:36 +0000\n"
        "    The recipient name is not recognized\n"
    )
    assert recipients_of(raw) == ["rcpt@example.net"]


def test_an_address_in_angle_brackets_wins_over_the_display_name_before_it() -> None:
    # RFC 5322 § 3.4 name-addr: in "phrase <addr>" the bracketed address is
    # the mailbox, even when the phrase looks like an address (Exim's
    # "x@a <y@b>: malformed address", Sisimai::Lhost::Exim reads the <...>).
    raw = (
        "From: Mail Delivery System <mailer-daemon@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Mail failure - malformed recipient address\n"
        "\n"
        "A message that you sent contained one or more recipient addresses that were\n"
        "incorrectly constructed:\n"
        "\n"
        "  shown@example.com <rcpt@example.net>: malformed address: <rcpt@example.net> may not follow shown@example.com\n"
        "\n"
        "This address has been ignored.\n"
    )
    assert recipients_of(raw) == ["rcpt@example.net"]


def test_a_report_wrapped_whole_in_message_rfc822_is_read_from_the_dsn_inside() -> None:
    # A gateway or scanner re-sends the whole report as an attachment: the
    # outer message has a report's headers but no words of its own, the
    # recipient is in the inner RFC 3464 part.
    inner = (
        "From: postmaster@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="in"\n'
        "\n"
        "--in\n"
        "Content-Type: text/plain\n"
        "\n"
        "This is an automatically generated Delivery Status Notification.\n"
        "\n"
        "--in\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;mx.example.net\n"
        "\n"
        "Final-Recipient: rfc822;rcpt@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "\n"
        "--in--\n"
    )
    raw = (
        "From: postmaster@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="out"\n'
        "\n"
        "This is a MIME-formatted message.\n"
        "\n"
        "--out\n"
        "Content-Type: message/rfc822\n"
        "\n"
        f"{inner}\n"
        "--out--\n"
    )
    assert recipients_of(raw) == ["rcpt@example.com"]


def test_a_notice_naming_nobody_falls_back_to_the_newest_received_for_clause() -> None:
    # RFC 5321 § 4.4: a Received field's "for" clause is the envelope
    # recipient at that hop; the newest one in the returned message is the
    # hop that failed (Sisimai::Fact reads it too). The original's To: is
    # a list here and would name the wrong mailbox.
    raw = (
        "From: ndr@mx.example.net\n"
        "To: list-bounces@lists.example.org\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: text/plain\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its recipients.\n"
        "One or more of the recipients are not a valid user of the system.\n"
        "\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Received: from smtp.mx.example.net (smtp.mx.example.net [192.0.2.1])\n"
        "\tby gw.mx.example.net (MTA) with ESMTP id 47mmbl\n"
        "\tfor <rcpt@mx.example.net>; Mon, 30 Dec 2019 18:46:11 +0000\n"
        "Received: from lists.example.org (lists.example.org [192.0.2.9])\n"
        "\tby lists.example.org (Postfix) with ESMTP id 6EFD1A\n"
        "\tfor <list@lists.example.org>; Mon, 30 Dec 2019 18:18:16 +0000\n"
        'To: "The List"\n'
        " <list@lists.example.org>\n"
        "From: author@example.org\n"
        "Subject: hello\n"
        "\n"
        "hello\n"
        "--b--\n"
    )
    assert recipients_of(raw) == ["rcpt@mx.example.net"]


def test_in_running_text_the_address_after_a_delivery_phrase_beats_an_earlier_one() -> None:
    # Sisimai::RFC3464's fallback reads the address after "undeliverable
    # to", "addressed to", "rejected recipient" ...; any address earlier in
    # the text (a help desk, a policy page) is not the failed recipient.
    raw = (
        "From: postmaster@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: Undeliverable mail\n"
        "\n"
        "Questions about this notice go to helpdesk@mx.example.net.\n"
        "Your mail was undeliverable to rcpt@example.com because the mailbox is unknown.\n"
    )
    assert recipients_of(raw) == ["rcpt@example.com"]


@pytest.mark.parametrize("per_message", ["Reporting-MTA: dns; mx.example.net\n\n", ""])
def test_an_internationalised_address_is_kept_whole(per_message: str) -> None:
    # RFC 6533 § 3: a utf-8 address type in message/global-delivery-status;
    # a non-ASCII local part must not be cut to its ASCII tail nor lose its
    # bytes, whether its block comes after the per-message one or first.
    raw = (
        "From: MAILER-DAEMON@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: text/plain\n"
        "\n"
        "The message could not be delivered.\n"
        "\n"
        "--b\n"
        "Content-Type: message/global-delivery-status; charset=utf-8\n"
        "\n"
        f"{per_message}"
        "Final-Recipient: utf-8; użytkownik@Example.PL\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "\n"
        "--b--\n"
    )
    assert recipients_of(raw) == ["użytkownik@example.pl"]


def test_a_base64_encoded_delivery_status_part_is_read() -> None:
    # The delivery-status part may come base64-encoded (RFC 6533 § 6 for the
    # global type; some MTAs do it for message/delivery-status too): its
    # recipients are read after decoding, not lost.
    fields = (
        "Reporting-MTA: dns; mx.example.net\n"
        "\n"
        "Final-Recipient: rfc822; a@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "\n"
        "Final-Recipient: rfc822; b@example.com\n"
        "Action: failed\n"
        "Status: 5.2.2\n"
    )
    raw = (
        "From: MAILER-DAEMON@mx.example.net\n"
        "To: sender@example.org\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: text/plain\n"
        "\n"
        "The message could not be delivered.\n"
        "\n"
        "--b\n"
        "Content-Type: message/delivery-status\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{base64.encodebytes(fields.encode()).decode()}"
        "--b--\n"
    )
    assert recipients_of(raw) == ["a@example.com", "b@example.com"]


def test_an_encoded_word_in_x_failed_recipients_is_kept_as_the_address() -> None:
    # RFC 2047 § 5 (3): an encoded word may not appear in an addr-spec, so
    # "=?utf-8?B?...?=@example.org" in Exim's X-Failed-Recipients is the
    # local part as sent; decoding it left no address and lost the bounce.
    address = "=?utf-8?B?8J+Qsg==?=@example.org"
    raw = (
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
        "To: sender@example.org\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        f"X-Failed-Recipients: {address}\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        f"  {address}\n"
        "    unknown user\n"
    )
    assert recipients_of(raw) == [address]
