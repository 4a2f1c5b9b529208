"""The taxonomy's decision order (``bridge.bounces.reasonorder``, ported from Sisimai's Reason/Status/Command).

Each case is a convention of the algorithm, not a corpus file: the same
words mean different reasons by the status code's name and by the SMTP
command the refusal answered.
"""

from __future__ import annotations

import pytest

from bridge.bounces.model import Reason
from bridge.bounces.reasonorder import Facts, find_command, mta_preset, reason_of, status_name
from bridge.bounces.stage import find_stage

R = Reason
UNKNOWN = "550 <a@b.example>: No such user here"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("550 5.1.1 <a@b.example>... User Unknown (in reply to RCPT TO command)", "RCPT"),
        ("MAIL FROM: <> 250 OK RCPT TO: <a@b.example> 550 no", "RCPT"),
        ("554 rejected (in reply to end of DATA command)", "DATA"),
        ("550 5.7.1 refused (in reply to MAIL FROM command)", "MAIL"),
        # Lower-case prose is not a command the client sent.
        ("550 your data was refused by mail policy", ""),
    ],
    ids=["postfix-rcpt", "transcript-last", "postfix-data", "postfix-mail", "prose"],
)
def test_find_command(text: str, command: str) -> None:
    assert find_command(text) == command


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("5.1.1", R.USERUNKNOWN),
        ("5.2.1", R.FILTERED),  # "mailbox disabled": permanent is filtered ...
        ("4.2.1", R.SUSPEND),  # ... transient is suspend
        ("5.1.10", R.NOTACCEPT),  # RFC 7505 null MX
        ("5.7.1", R.SECURITYERROR),
        ("4.7.1", R.BLOCKED),
        ("5.0.0", None),
    ],
)
def test_status_name(status: str, reason: Reason | None) -> None:
    assert status_name(status) is reason


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        # Unknown-user words: the stage or an address code decides.
        (Facts(UNKNOWN, status="5.0.0", reply="550", command="RCPT"), R.USERUNKNOWN),
        (Facts(UNKNOWN, status="5.0.0", reply="550", command="DATA"), R.FILTERED),
        (Facts(UNKNOWN, status="5.0.0", reply="550"), R.FILTERED),
        (Facts(UNKNOWN, status="5.1.1", reply="550"), R.USERUNKNOWN),
        (Facts(UNKNOWN, status="5.2.1", reply="550", command="RCPT"), R.USERUNKNOWN),
        # X.1.1 yields to another cause the words name (UserUnknown's prematches).
        (Facts("550 5.1.1 mailbox is full", status="5.1.1", reply="550"), R.MAILBOXFULL),
        # A sender refusal counts at MAIL FROM, not at RCPT with an address code.
        (Facts("553 sender rejected", status="5.0.0", reply="553", command="MAIL"), R.REJECTED),
        # Spam words before DATA are not a content verdict: the code's name stands.
        (Facts("450 spam not accepted", status="4.7.1", reply="450", command="RCPT"), R.BLOCKED),
        (Facts("450 spam not accepted", status="4.7.1", reply="450", command="DATA"), R.SPAMDETECTED),
        # No listed wording: the status's name stands, or its subject's catch-all.
        (Facts("550 5.2.1 no thanks", status="5.2.1", reply="550"), R.FILTERED),
        (Facts("550 5.7.0 Mail Box Not Found", status="5.7.0", reply="550"), R.SECURITYERROR),
        (Facts("550 no thanks", status="5.7.99", reply="550"), R.SECURITYERROR),
        # The fallbacks: a delay report, a 50x reply, a refusal at EHLO.
        (Facts("451 try later", status="4.0.0", reply="451", action="delayed"), R.EXPIRED),
        (Facts("501 bad syntax", status="5.0.0", reply="501"), R.SYNTAXERROR),
        (Facts("550 no", status="5.0.0", reply="550", command="EHLO"), R.BLOCKED),
        (Facts("550 no", status="5.0.0", reply="550"), None),
        # A local program's exit skips the SMTP tests: only the second-order lists.
        (Facts("maildir over quota", status="5.7.0", diagnostic_type="X-UNIX"), R.MAILBOXFULL),
    ],
    ids=[
        "unknown-rcpt",
        "unknown-data",
        "unknown-no-stage",
        "unknown-x11",
        "unknown-rcpt-x21",
        "x11-but-full",
        "sender-at-mail",
        "spam-at-rcpt",
        "spam-at-data",
        "x21-name",
        "x70-name",
        "x7-subject",
        "delayed",
        "syntax",
        "ehlo",
        "undecided",
        "x-unix",
    ],
)
def test_reason_of(facts: Facts, reason: Reason | None) -> None:
    assert reason_of(facts) is reason


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("Connected to 192.0.2.1 but my name was rejected.", "EHLO"),
        ("192.0.2.1 failed on DATA command", "DATA"),
        ("Connected to 192.0.2.1 but greeting failed.", "CONN"),
        ("550 5.1.1 The email account that you tried to reach does not exist. (state 14).", "RCPT"),
        ("550 5.7.1 blocked by policy (state 18).", "DATA"),
        ("Remote server returned unknown recipient or mailbox unavailable -> 550 Unknown user a@b.example", "RCPT"),
        ("Remote server returned unknown recipient or mailbox unavailable -> 550 : User unknown", None),
    ],
    ids=["qmail-ehlo", "qmail-data", "qmail-greeting", "gmail-14", "gmail-18", "o365-rcpt", "o365-no-address"],
)
def test_mta_stage_marks(text: str, stage: str | None) -> None:
    assert find_stage(text) == stage


@pytest.mark.parametrize(
    ("diagnostic", "status", "reason"),
    [
        # Exchange's category code is the MTA's own verdict: rejected, not X.7.1's securityerror.
        ("550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized", "5.7.1", R.REJECTED),
        ("550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large", "5.2.3", R.MESGTOOBIG),
        # Gmail's "(state 15)" is a refusal after DATA: filtered, even for unknown-user words.
        ("550 5.1.1 user unknown (state 15).", "5.1.1", R.FILTERED),
    ],
    ids=["exchange-notauthorized", "exchange-sizelimit", "gmail-state-15"],
)
def test_mta_presets(diagnostic: str, status: str, reason: Reason) -> None:
    facts = Facts(diagnostic, status=status, reply="550", preset=mta_preset(diagnostic))
    assert reason_of(facts) is reason
