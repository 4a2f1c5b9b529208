"""Reason rules of bridge.bounces, one family per test, on synthetic reports written here.

Each case is a short diagnostic in the wording an MTA or provider really uses
(not a copy of a corpus file), so that a rule that stops matching, or a new
rule that shadows it, fails here rather than only in the corpus score.
"""

from __future__ import annotations

import pytest

from bridge.bounces import Kind, Reason, classify
from bridge.bounces.codes import find_reply_code, find_status
from bridge.bounces.providers import provider_reason
from bridge.bounces.reasons import classify_reason
from bridge.bounces.statuses import status_reason
from bridge.mail.message import parse
from tests.unit.test_bounces_conventions import dsn as report

R = Reason


def reason_of(diagnostic: str, context: str = "", action: str = "failed") -> Reason:
    """Classify a diagnostic the way the classifier does: status from the text."""
    return classify_reason(diagnostic, find_status(diagnostic), action, context)


def dsn(diagnostic: str, status: str, notice: str = "The message could not be delivered.") -> bytes:
    """A minimal RFC 3464 report for one recipient."""
    fields = f"Action: failed\nStatus: {status}\nDiagnostic-Code: smtp; {diagnostic}\n"
    return report(fields, notice, original="Subject: hello\n")


def one(raw: bytes) -> tuple[Reason, str, bool]:
    report = classify(parse(raw))
    assert report is not None and report.kind is Kind.BOUNCE
    (row,) = report.recipients
    return row.reason, row.status, row.hard


# --- "User unknown" read by where it was said (RFC 5321 § 3.3) and who said it.


@pytest.mark.parametrize(
    ("text", "context", "reason"),
    [
        # Gmail's wording, answered to RCPT TO (Postfix writes the stage).
        (
            "550-5.1.1 The email account that you tried to reach does not exist.",
            "(in reply to RCPT TO command)",
            R.USERUNKNOWN,
        ),
        # The same words with neither a stage nor an address code: may be DATA.
        ("550 The email account that you tried to reach does not exist.", "", R.FILTERED),
        # A Sendmail transcript prints pipelined RCPT replies after ">>> DATA":
        # the written stage wins over the "Recipient address rejected" shape.
        (
            "550 5.7.1 <a@b.example>: Recipient address rejected: User unknown",
            "... while talking to mx.b.example.:\n>>> DATA\n<<< 550 5.7.1 <a@b.example>: "
            "Recipient address rejected: User unknown",
            R.FILTERED,
        ),
        # No stage written and no X.1 code: echoing the address does not
        # name the stage either (only KDDI's hosts mean "unknown" by it, see
        # test_bounces_families), nor does Postfix's restriction prefix.
        ("550 <a@b.example>: User unknown", "", R.FILTERED),
        ("550 <a@b.example>: Recipient address rejected: User unknown in local recipient table", "", R.FILTERED),
        # Exchange Online's directory-based edge blocking, relayed without a stage.
        (
            "Recipient email address is possibly incorrect. 5.4.1 Recipient address rejected: Access denied. "
            "[AB0CD123.prod.outlook.com]",
            "",
            R.USERUNKNOWN,
        ),
        # With an address code the mailbox is unknown whatever the stage.
        ("550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", "", R.USERUNKNOWN),
        # The reporting system's own lookups: local delivery agent, iMail, Yahoo.
        ("mail.local: unknown user: a\n554 <a@b.example>... Service unavailable", "", R.USERUNKNOWN),
        ("Unknown user: a@b.example", "", R.USERUNKNOWN),
        (
            "554 delivery error: dd This user doesn't have a yahoo.com account (a@yahoo.com) [0] - mta1.mail.yahoo.com",
            "",
            R.USERUNKNOWN,
        ),
    ],
    ids=[
        "gmail-rcpt",
        "gmail-no-stage",
        "transcript-data",
        "echoed-address",
        "postfix-prefix",
        "exchange-dbeb",
        "address-code",
        "mail-local",
        "imail",
        "yahoo-dd",
    ],
)
def test_unknown_user_by_stage_and_speaker(text: str, context: str, reason: Reason) -> None:
    assert reason_of(text, context) is reason


def test_recipient_choice_overrules_address_code() -> None:
    # Facebook answers 5.1.1 to mail its user chose not to receive: a filter.
    text = "550 5.1.1 RCP-P2 http://postmaster.facebook.com/response_codes#rcp Refused due to recipient preferences"
    assert reason_of(text) is R.FILTERED
    assert reason_of("554 5.7.1 You have been blocked by the recipient") is R.FILTERED


# --- A specific status code against generic words.


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("550 #5.1.0 Address rejected.", R.USERUNKNOWN),  # X.1.0 beats a bare "rejected"
        ("550 5.6.0 <a@b.example>: Recipient address rejected: Media error", R.CONTENTERROR),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", R.USERUNKNOWN),
        ("556 5.1.10 Recipient address has null MX", R.NOTACCEPT),
        # No code: the taxonomy's listed wording stands ("address rejected"
        # is in Sisimai's Rejected list), before the last-resort "rejected".
        ("550 Address rejected", R.REJECTED),
    ],
    ids=["x10-address", "x60-media", "microsoft-x110", "null-mx-x110", "no-code"],
)
def test_status_against_generic_words(text: str, reason: Reason) -> None:
    assert reason_of(text) is reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("5.7.14", R.SECURITYERROR),  # trust relationship required
        ("5.7.17", R.HASMOVED),  # mailbox owner has changed
        ("5.7.18", R.HASMOVED),  # domain owner has changed
        ("5.7.30", R.FAILEDSTARTTLS),  # REQUIRETLS support required
        ("5.2.4", R.FILTERED),  # mailing list expansion problem
        ("5.6.11", R.CONTENTERROR),  # any X.6.X is content
        ("5.7.510", R.BLOCKED),  # Exchange Online: no mail over IPv6
        ("5.7.620", R.BLOCKED),  # Exchange Online: banned sending IP range
        ("4.7.650", R.BADREPUTATION),  # exact entry beats the 4.7.500-699 range
        ("4.7.555", R.BLOCKED),  # "access denied, please try again later"
        ("5.7.555", None),  # the range is of class 4 only
        ("5.4.300", R.EXPIRED),
        ("5.0.0", None),
        ("5.7.1", None),
    ],
)
def test_status_table(status: str, reason: Reason | None) -> None:
    assert status_reason(status) is reason


# --- Providers' documented codes.


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("552 This message has been rejected due to content judged to be spam. IB212", R.SPAMDETECTED),
        ("550 example.net From: Domain is invalid. Provide a valid From: IB506", R.REJECTED),
        ("554 IP rejected. AUP#CXDNS", R.REQUIREPTR),
        ("554 Connection refused. AUP#IPBL0101", R.BLOCKED),
        ("421 Too many connections AUP#In-1310", R.TOOMANYCONN),
        ("552 Message too large AUP#O-1530", R.MESGTOOBIG),
        ("550 5.1.1 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]", R.USERUNKNOWN),
        ("550 5.5.0 Le compte du destinataire est bloque. LPN007_426", R.SUSPEND),
        ("421 Service refused, please try later. LPN001_108", None),  # no published meaning
        ("550 5.1.1 User unknown", None),
    ],
)
def test_provider_codes(text: str, reason: Reason | None) -> None:
    assert provider_reason(text) is reason


def test_provider_code_beats_words() -> None:
    assert reason_of("550 5.2.0 Mail rejete. Mail rejected. OFR_506 [506]") is R.SPAMDETECTED


# --- Wordings of MTAs and providers.


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("550 5.7.1 <s@c.example>: Sender address rejected: Access denied", R.REJECTED),
        ("550 c.example From: Domain is invalid.", R.REJECTED),
        ("504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", R.BLOCKED),
        ("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", R.NORELAYING),
        ("550 Mailbox unavailable or access denied [MFAvbs]", R.SUSPEND),
        ("550 domain [c.example] mismatches client ip 192.0.2.1.", R.REQUIREPTR),
        (
            "550 5.7.515 Access denied, sending domain C.EXAMPLE doesn't meet the required authentication level.",
            R.AUTHFAILURE,
        ),
        ("mail forwarding loop for a@b.example", R.NETWORKERROR),
        # No wording of the taxonomy's lists: the status's own name stands
        # (X.7.0 securityerror, Sisimai's anotherone), same class as filtered.
        ("550 5.7.0 Mail Box Not Found", R.SECURITYERROR),
        ("503 Improper sequence of commands", R.SYNTAXERROR),
        ("[Status: Error, Address: <a@b.example>, ResponseCode 421, , Host not reachable.]", R.NETWORKERROR),
        ("Delivery to the following recipients was aborted after 5.0 hour(s): a@b.example", R.EXPIRED),
        ("Your message was not delivered within 0 days and 1 hours. Remote host is not responding.", R.EXPIRED),
    ],
    ids=[
        "postfix-sender-restriction",
        "from-domain",
        "helo",
        "qmail-rcpthosts",
        "qq-mailbox",
        "fcrdns",
        "microsoft-auth-level",
        "forwarding-loop",
        "mail-box",
        "sequence",
        "not-reachable",
        "aborted-after",
        "not-delivered-within",
    ],
)
def test_wordings(text: str, reason: Reason) -> None:
    assert reason_of(text) is reason


def test_quoted_header_names_are_not_wordings() -> None:
    # A forwarded report quotes the original's headers: "X-Virus-Scanned" and
    # "Content-Type" are field names, not a virus or a content refusal.
    text = (
        "550 5.1.1 <a@b.example>... User unknown\n> X-Virus-Scanned: clamav-milter 0.96\n"
        "> Content-Type: text/plain; charset=us-ascii\n> MIME-Version: 1.0"
    )
    assert reason_of(text) is R.USERUNKNOWN
    assert reason_of("421 Host not reachable\nContent-Type: text/plain\nMessage-ID: <x@y>") is R.NETWORKERROR


# --- Codes: a transcript's failure, not its successful replies.


def test_failure_code_before_success_code() -> None:
    transcript = "In: RCPT TO:<a@b.example>\nOut: 250 2.1.5 Ok\nIn: DATA\nOut: 451 4.3.0 Error: queue file write error"
    assert find_status(transcript) == "4.3.0"
    assert find_reply_code(transcript) == "451"
    assert find_status("250 2.1.5 Ok") == "2.1.5"
    assert find_reply_code("250 2.1.5 Ok") == "250"


# --- End to end on synthetic reports.


def test_dsn_recipient_choice_end_to_end() -> None:
    raw = dsn("550 5.1.1 Refused due to recipient preferences", "5.1.1")
    assert one(raw) == (R.FILTERED, "5.1.1", False)


def test_dsn_microsoft_recipient_not_found_end_to_end() -> None:
    raw = dsn("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "5.1.10")
    assert one(raw) == (R.USERUNKNOWN, "5.1.10", True)


def test_text_bounce_transcript_at_data_end_to_end() -> None:
    raw = (
        b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\n"
        b"To: sender@example.org\n"
        b"Subject: Returned mail: see transcript for details\n"
        b"\n"
        b"The original message was received at Mon, 1 Jan 2024 00:00:00 +0000\n"
        b"\n"
        b"   ----- The following addresses had permanent fatal errors -----\n"
        b"<rcpt@example.com>\n"
        b"    (reason: 550 5.7.1 <rcpt@example.com>: Recipient address rejected: User unknown)\n"
        b"\n"
        b"   ----- Transcript of session follows -----\n"
        b"... while talking to mx.example.com.:\n"
        b">>> DATA\n"
        b"<<< 550 5.7.1 <rcpt@example.com>: Recipient address rejected: User unknown\n"
        b"550 5.1.1 <rcpt@example.com>... User unknown\n"
        b"<<< 554 5.5.1 Error: no valid recipients\n"
    )
    reason, status, hard = one(raw)
    assert (reason, hard) == (R.FILTERED, False)
    assert status == "5.7.1"


# --- Vendor text formats: labelled reply codes, quoted headers without a space.


def test_labelled_reply_code() -> None:
    assert find_reply_code("a@b.example Error, ERROR_CODE :421, ERROR_CODE :, Host not reachable.") == "421"
    assert find_reply_code("[Status: Error, Address: <a@b.example>, ResponseCode 550, , User unknown.]") == "550"
    assert find_reply_code("Delivery failed after 2 days") is None


def test_quoted_headers_without_space_end_the_notice() -> None:
    raw = (
        b"From: Mail Delivery System <mailer-daemon@mail.example.net>\n"
        b"To: sender@example.org\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"\n"
        b"A message that you sent could not be delivered to one or more of its recipients.\n"
        b"\n"
        b"rcpt@example.com Error, ERROR_CODE :550, ERROR_CODE :Mailbox is full\n"
        b"\n"
        b"Received:from mail.example.net by mx.example.net with SMTP id 1234\n"
        b"Message-ID:<original.2@example.org>\n"
        b"Date:Fri, 12 Dec 2014 10:50:59 +0000\n"
        b"From:sender@example.org\n"
        b"Subject:hello\n"
    )
    report = classify(parse(raw))
    assert report is not None and report.original_message_id == "original.2@example.org"
    (row,) = report.recipients
    assert (row.recipient, row.reply_code, row.reason) == ("rcpt@example.com", "550", R.MAILBOXFULL)


def test_delay_report_keeps_a_named_cause() -> None:
    # Still queued: the code's own meaning decides (4.4.1 "no answer from
    # host" is the queue-time expiry, 4.2.2 mailbox full is kept even next to
    # "rejected", a transient 4.4.4 "unable to route" is network trouble).
    assert reason_of("451 4.4.1 Connection timed out", action="delayed") is R.EXPIRED
    assert reason_of("452 4.2.2 Rejected, try again later", action="delayed") is R.MAILBOXFULL
    assert reason_of("451 4.4.4 Unable to route", action="delayed") is R.NETWORKERROR


# --- The taxonomy's own phrase lists (bridge.bounces.taxonomy), read before our wording rules.


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("550 This account has been temporarily suspended", R.SUSPEND),
        ("554 Please use the SMTP server of your ISP", R.BLOCKED),
        ("550 Boite du destinataire pleine", R.MAILBOXFULL),
        ("550 This user has restricted SMS e-mail", R.FILTERED),
        # A pair: its pieces in order, anything between them.
        ("550 Service permits only 5 unverifyable sending IPs", R.REQUIREPTR),
    ],
    ids=["suspend", "blocked", "mailboxfull-fr", "filtered", "pair"],
)
def test_taxonomy_wording_decides(text: str, reason: Reason) -> None:
    assert reason_of(text) is reason


@pytest.mark.parametrize(
    ("text", "context", "reason"),
    [
        # Our pattern says suspended; Sisimai's UserUnknown list names it (at RCPT).
        ("550 mailbox is inactive", "in reply to RCPT TO command", R.USERUNKNOWN),
        # Our size pattern says too big; Sisimai's MailboxFull list names it.
        ("552 mail file size exceeds the maximum size allowed for mail delivery", "", R.MAILBOXFULL),
        # Our "could not be found" is a mailbox wording; this one is Exchange's DNS verdict.
        ("554 DNS records for the destination computer could not be found", "", R.NETWORKERROR),
    ],
    ids=["inactive-at-rcpt", "mail-file-size", "exchange-dns"],
)
def test_taxonomy_wording_beats_our_generic_pattern(text: str, context: str, reason: Reason) -> None:
    assert reason_of(text, context) is reason


def test_taxonomy_pair_needs_its_order() -> None:
    from bridge.bounces.taxonomy import taxonomy_reason

    assert taxonomy_reason("550 unverifyable sending IPs: service permits none") is None


def test_taxonomy_wording_does_not_overrule_a_specific_status() -> None:
    # "address rejected" is in Sisimai's Rejected list, but X.1.1 names the mailbox.
    assert reason_of("550 5.1.1 Address rejected", "after RCPT TO") is R.USERUNKNOWN
    # Sisimai's Rejected module refuses "recipient address rejected" itself.
    assert reason_of("554 Recipient address rejected") is not R.REJECTED


# --- Provider tables keyed on the remote host (bridge.bounces.rhosts, Sisimai's Rhost modules).


def test_rhost_provider_is_named_by_remote_host_or_recipient_domain() -> None:
    from bridge.bounces.rhosts import provider_of

    assert provider_of("mx1.mail.icloud.com", "a@example.org") == "apple"
    assert provider_of(None, "a@qq.com") == "tencent"
    assert provider_of("mx.example.net", "a@example.net") is None


@pytest.mark.parametrize(
    ("provider", "text", "status", "reply", "reason"),
    [
        # Google: phrase, reply digits and status subject.detail must all agree.
        ("google", "452 4.2.2 The recipient's inbox is out of storage space", "4.2.2", "452", R.MAILBOXFULL),
        ("google", "452 4.2.2 The recipient's inbox is out of storage space", "4.7.1", "452", None),
        # Microsoft: the exact status, or a range of its detail.
        ("microsoft", "451 4.7.870 Access denied, please try again later", "4.7.870", "451", R.BLOCKED),
        ("tencent", "550 Ip frequency limited", "5.0.0", "550", R.TOOMANYCONN),
        ("iua", "550 see http://mail.i.ua/err/2/ for details", "5.0.0", "550", R.USERUNKNOWN),
    ],
    ids=["google", "google-other-status", "microsoft-range", "tencent", "iua"],
)
def test_rhost_tables(provider: str, text: str, status: str, reply: str, reason: Reason | None) -> None:
    from bridge.bounces.rhosts import rhost_reason

    assert rhost_reason(provider, text, status, reply, None) is reason


def test_rhost_table_decides_a_report_from_that_provider() -> None:
    # Tencent's "frequency limited" is a connection limit in its table, though
    # the words alone read as a sending-rate limit.
    fields = (
        "Action: failed\nStatus: 5.0.0\nRemote-MTA: dns; mx3.qq.com\nDiagnostic-Code: smtp; 550 Ip frequency limited\n"
    )
    row = classify(parse(report(fields, "Delivery failed.", original="Subject: hi\n")))
    assert row is not None
    assert row.recipients[0].reason is R.TOOMANYCONN


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("malformed address: <a@b.example> may not follow <c@d.example>", R.SYNTAXERROR),
        ("delivery to pipe forbidden", R.SYSTEMERROR),
        ("Address family mismatch on destination MXs", R.NETWORKERROR),
    ],
    ids=["exim-syntax", "exim-pipe", "opensmtpd-network"],
)
def test_mta_table_wording_decides_when_no_rule_does(text: str, reason: Reason) -> None:
    # Per-MTA tables (Sisimai's Lhost $messagesof), read after the reason lists.
    assert reason_of(text) is reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("421 mx.example.com Service not available, closing transmission channel", R.BLOCKED),
        ("Remote protocol error: Connection reset by peer", R.BLOCKED),
        ("Deferred: Connection refused by mx.example.com.", R.BLOCKED),
        # The queue's expiry is read first: the refusal only ended the retries.
        ("550 5.4.316 Message expired, connection refused(Socket error code 10061)", R.EXPIRED),
    ],
    ids=["rfc5321-421", "reset", "refused-by", "expired-first"],
)
def test_cut_or_refused_session_is_a_block(text: str, reason: Reason) -> None:
    assert reason_of(text) is reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [("5.7.28", R.SPAMDETECTED), ("5.1.4", R.FILTERED)],
    ids=["x728-mail-flood", "x14-ambiguous"],
)
def test_registry_codes_as_the_taxonomy_files_them(status: str, reason: Reason) -> None:
    assert status_reason(status) is reason
