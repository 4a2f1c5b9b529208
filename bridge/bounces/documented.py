"""Wordings documented by MTA sources and providers, each with its source: an independent vocabulary.

Pure once imported (the table is read from ``documented.jsonl`` beside this
module at import). Every line of that file is one wording: the reason, a
pattern, an example the pattern matches (a unit test checks it), the software
or provider that writes it and the source it was taken from: the MTA's own
code (Postfix, Exim, Sendmail, qmail, OpenSMTPD, Courier, Dovecot, Cyrus,
Exchange's NDR documentation) or the provider's or gateway's published error
list (Gmail, Microsoft, Yahoo, AOL, NetEase, QQ, Comcast, AT&T, Mimecast,
Sophos, Symantec, Trend Micro, ...), with third-party collections (ZoneMTA's
bounce list, PHP-Bounce-Handler) as sources of real wordings. It was written
without looking at the bounce corpus the classifier is scored on, so what it
decides there measures how the classifier does on wordings nobody fitted
(``bench/bounce_support.py``).

When several wordings match, the one with the longest match wins: "Sender
address rejected: undeliverable address ... 5.1.1 User unknown" is about the
sender, though it quotes a user-unknown reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from bridge.bounces.model import Reason


@dataclass(frozen=True, slots=True)
class Wording:
    """One documented wording and where it comes from."""

    reason: Reason
    pattern: re.Pattern[str]
    example: str
    who: str
    source: str
    # Lower-case text every match contains, "" when the pattern has none
    # (see ``_anchor``): a substring test rules most wordings out cheaply.
    anchor: str


def _anchor(pattern: str) -> str:
    """Return the longest literal run (lower case) that every match of pattern contains, or "".

    Reads the pattern's top level only: groups, character classes, escapes
    such as \\s or \\b and anything made optional by ?, * or {0,n} end a
    run; a top-level | means no run is certain. Runs shorter than three
    characters are not worth testing.
    """
    runs: list[str] = []
    run = ""
    depth = index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "\\":
            escaped = pattern[index : index + 1]
            index += 1
            if depth == 0 and escaped and not escaped.isalnum():
                run += escaped.lower()
                continue
        elif char == "[":
            index = _class_end(pattern, index)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            continue
        elif char == "|":
            if depth == 0:
                return ""
            continue
        elif char in "?*+{":
            optional = char in "?*" or pattern.startswith("0", index)
            if char == "{":
                index = pattern.index("}", index) + 1
            if optional:
                run = run[:-1]
        elif depth == 0 and char not in ".^$":
            run += char.lower()
            continue
        runs.append(run)
        run = ""
    runs.append(run)
    longest = max(runs, key=len)
    return longest if len(longest) >= 3 else ""


def _class_end(pattern: str, index: int) -> int:
    """Return the index after the ] that closes the character class whose body starts at index."""
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):
        index += 1
    while pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


def _load(path: Path) -> tuple[Wording, ...]:
    wordings = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        wordings.append(
            Wording(
                Reason(entry["reason"]),
                re.compile(entry["pattern"], re.IGNORECASE),
                entry["example"],
                entry["who"],
                entry["source"],
                _anchor(entry["pattern"]),
            )
        )
    return tuple(wordings)


WORDINGS = _load(Path(__file__).with_name("documented.jsonl"))
DOCUMENTED_PHRASES: frozenset[tuple[Reason, str]] = frozenset((w.reason, w.pattern.pattern) for w in WORDINGS)


def documented_wording(text: str, without: Collection[tuple[Reason, str]] = ()) -> Wording | None:
    """Return the documented wording with the longest match in text, or None.

    Wordings whose (reason, pattern text) pair is in without are skipped.
    """
    lowered = text.lower()
    best: Wording | None = None
    longest = 0
    for wording in WORDINGS:
        if wording.anchor not in lowered or (wording.reason, wording.pattern.pattern) in without:
            continue
        match = wording.pattern.search(text)
        if match is not None and len(match.group(0)) > longest:
            best, longest = wording, len(match.group(0))
    return best
