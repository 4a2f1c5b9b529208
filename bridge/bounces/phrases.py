"""Wording tables' building block: one case-insensitive pattern made of alternative phrases.

Pure: no I/O. The tables of ``causes``, ``addressing`` and ``wordings`` are
written as lists of phrases; matching uses one compiled alternation per
reason (one ``search`` instead of one per phrase), and ``phrases_of`` gives
the phrases back so a measurement can tell which one decided a report
(``bench/bounce_support.py``).
"""

from __future__ import annotations

import re

_PHRASES: dict[re.Pattern[str], tuple[str, ...]] = {}


# A space between the words of a phrase: not inside a character class or a
# look-behind (which must keep a fixed width), not an escaped one.
_WORD_GAP_RE = re.compile(r"\(\?<[=!](?:\\.|[^)])*\)|\[(?:\\.|[^\]])*\]|\\.| [?*+]?")
# An optional space ("user ?id") stays optional.
_GAPS = {" ": r"\s+", " +": r"\s+", " ?": r"\s*", " *": r"\s*"}


def _spaced(phrase: str) -> str:
    """Let each space between words match any white space run: reports wrap a reply anywhere ("not\\n  found")."""
    return _WORD_GAP_RE.sub(lambda m: _GAPS.get(m.group(0), m.group(0)), phrase)


def alternation(*phrases: str) -> re.Pattern[str]:
    """Compile phrases into one case-insensitive pattern that matches any of them.

    A space in a phrase matches any run of white space, line breaks
    included; "." still stops at a line break.
    """
    spaced = tuple(_spaced(p) for p in phrases)
    pattern = re.compile("|".join(f"(?:{p})" for p in spaced) or r"(?!)", re.IGNORECASE)
    _PHRASES[pattern] = spaced
    return pattern


def phrases_of(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The phrases an ``alternation`` was made of, as compiled (the pattern itself if compiled elsewhere)."""
    return _PHRASES.get(pattern, (pattern.pattern,))
