"""The documented vocabulary: its table's integrity and its place in the wording order."""

from __future__ import annotations

import re

import pytest

from bridge.bounces.documented import WORDINGS, _anchor, documented_wording
from bridge.bounces.model import Reason
from bridge.bounces.phrases import alternation, phrases_of
from bridge.bounces.wordings import deciding_phrase, text_reason


def test_every_wording_matches_its_example_and_names_a_source() -> None:
    assert len(WORDINGS) >= 500
    for wording in WORDINGS:
        assert wording.pattern.search(wording.example), wording.pattern.pattern
        assert wording.source and wording.who, wording.pattern.pattern
        # The cheap pre-test must never rule out a text the pattern matches.
        assert wording.anchor in wording.example.lower(), wording.pattern.pattern


# A group repeated without bound that itself holds a quantifier ("(a+\\s)+")
# can backtrack exponentially; unbounded ".*" / ".+" can make a search quadratic.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\})")
_UNBOUNDED_ANY = re.compile(r"(?<!\\)\.[*+]")


def test_no_wording_can_backtrack_without_bound() -> None:
    for wording in WORDINGS:
        assert not _NESTED_QUANTIFIER.search(wording.pattern.pattern), wording.pattern.pattern
        assert not _UNBOUNDED_ANY.search(wording.pattern.pattern), wording.pattern.pattern
    assert _NESTED_QUANTIFIER.search(r"(?:a+\s)+b") and _NESTED_QUANTIFIER.search(r"(?:a+\s){2,}b")
    assert not _NESTED_QUANTIFIER.search(r"\d{1,3}(?:\.\d{1,3}){3}")
    assert _UNBOUNDED_ANY.search(r"a.*b") and not _UNBOUNDED_ANY.search(r"a\.*b")


@pytest.mark.parametrize(
    ("pattern", "anchor"),
    [
        (r"Relay\s+access\s+denied", "access"),
        (r"mailbox\s+is\s+full|over\s+quota", ""),  # top-level choice: nothing certain
        (r"quotas?\s+exceeded", "exceeded"),  # "s?" makes the s optional
        (r"client\s+host\s+\[[^\]\s]{1,100}\]\s+blocked", "blocked"),  # a class ends a run
        (r"MI:SPB", "mi:spb"),
        (r"Domain\.\s+of", "domain."),  # an escaped dot is literal
        (r"(?:sender|from)\s+rejected", "rejected"),  # a group ends a run
    ],
)
def test_anchor_is_text_every_match_contains(pattern: str, anchor: str) -> None:
    assert _anchor(pattern) == anchor


def test_longest_documented_match_wins() -> None:
    text = (
        "450 4.1.7 <a@example.com>: Sender address rejected: undeliverable address: "
        "host mx.example.com said: 550 5.1.1 User unknown"
    )
    found = documented_wording(text)
    assert found is not None and found.reason is Reason.REJECTED


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # Only the documented table knows these provider codes.
        ("554 MI:SPB mail rejected", Reason.REJECTED),
        (
            "554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster for help or to contact "
            "tosa@rx.t-online.de to clarify.) (BL)",
            Reason.BLOCKED,
        ),
        # The queue's expiry comes first: a timeout in a final report is expiry.
        ("451 4.4.1 Connection timed out", Reason.EXPIRED),
        # Specific and address wordings come first too.
        ("550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in virtual mailbox table", None),
    ],
    ids=["netease-code", "t-online", "expiry-first", "address-first"],
)
def test_documented_vocabulary_in_the_wording_order(text: str, reason: Reason | None) -> None:
    got = text_reason(text)
    if reason is None:
        decided = deciding_phrase(text)
        assert decided is not None and decided[1] not in {w.pattern.pattern for w in WORDINGS}
    else:
        assert got is reason


def test_deciding_phrase_names_what_text_reason_decides() -> None:
    texts = [w.example for w in WORDINGS] + [
        "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in virtual mailbox table",
        "552 5.2.2 Mailbox full",
        "this sentence names no reason at all",
    ]
    for text in texts:
        decided = deciding_phrase(text)
        assert (decided[0] if decided else None) is text_reason(text), text
        if decided is not None:
            again = deciding_phrase(text, without={decided})
            assert again != decided


def test_alternation_remembers_its_phrases_and_reads_across_line_folds() -> None:
    pattern = alternation(r"mailbox (?:is )?full", r"over quota", r"user ?id", r"[- ]x")
    assert phrases_of(pattern) == (r"mailbox\s+(?:is\s+)?full", r"over\s+quota", r"user\s*id", r"[- ]x")
    assert pattern.search("552 OVER QUOTA")
    assert pattern.search("552 <a@b.example>... Mailbox is\n    full")  # a text bounce wraps the reply
    assert pattern.search("invalid userid")  # an optional space stays optional
    assert phrases_of(re.compile("x")) == ("x",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<a@b.example>: This person's account is exceeding their quota.", Reason.MAILBOXFULL),
        ("554 You've reached your daily relay quota - 192.0.2.1", None),  # a sending limit, not a full mailbox
        ("This mail message has exceeded the maximum incoming message size.", Reason.MESGTOOBIG),
        (
            "553-you are trying to use me as a relay, but I have not been configured to let you do this",
            Reason.NORELAYING,
        ),
        ("(Originally addressed to a@b.example) User not known", Reason.USERUNKNOWN),
        ('Mailer mx.b.example said: "554 Message looping (received 6 times)"', Reason.NETWORKERROR),
        ("Delivery failed 20 attempts: a@b.example", Reason.EXPIRED),
        ("Recipient server unavailable or busy", None),  # the server's trouble, not an unknown recipient
        ("550 User has too many messages on the server.", Reason.MAILBOXFULL),
        ("The recipient mailbox has exceeded its disk space limit.", Reason.MAILBOXFULL),
        ("554 Rcpt <a@b.example> does not exist", Reason.USERUNKNOWN),
        ("550 ** No mail box available for this user **", Reason.USERUNKNOWN),
        ("550 Domain name not found", Reason.HOSTUNKNOWN),
        ("554 No Resent-From field given", Reason.NOTCOMPLIANTRFC),
        ("Messages without To: fields are not accepted here", Reason.NOTCOMPLIANTRFC),
        ("550 Benutzer unbekannt", Reason.USERUNKNOWN),
        ("L'adresse de messagerie référencée ci-dessus n'existe pas.", Reason.USERUNKNOWN),
        ("552 Postfach ist voll", Reason.MAILBOXFULL),
        ("550 用户不存在", Reason.USERUNKNOWN),
    ],
    ids=[
        "quota",
        "relay-quota",
        "size",
        "relay",
        "not-known",
        "looping",
        "attempts",
        "server-unavailable",
        "too-many-messages",
        "disk-space",
        "rcpt",
        "no-mail-box",
        "domain-name",
        "resent-from",
        "without-to",
        "german-unknown",
        "french-unknown",
        "german-full",
        "chinese-unknown",
    ],
)
def test_plain_language_wordings(text: str, reason: Reason | None) -> None:
    got = text_reason(text, fallback=False)
    if reason is None:
        assert got not in (Reason.MAILBOXFULL, Reason.USERUNKNOWN), got
    else:
        assert got is reason
