"""Content guards: compile and run a guard's pattern with a time limit.

Pure: no I/O. Patterns use the ``regex`` package, whose ``timeout=`` stops a
catastrophically backtracking pattern (or a hostile body feeding one); the
stdlib ``re`` has no way to do that. A timeout is a hit (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import regex

# Flags a guard may carry, as in JavaScript/PCRE literals.
FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "x": regex.VERBOSE}
MAX_PATTERN_LENGTH = 1000
# Per guard, per message: a body has a few fields, and the watcher handles one mailbox's mail in order.
DEFAULT_TIMEOUT_S = 0.25
TIMEOUT_REASON = "guard_timeout"


class PatternError(ValueError):
    """Raised by ``compile_pattern`` for a pattern (or flag) that cannot be compiled."""


@dataclass(frozen=True, slots=True)
class Guard:
    """What the scanner needs of a guard; ``index`` names it in the audit log."""

    index: int
    pattern: str
    flags: str
    action: str
    reason: str


@dataclass(frozen=True, slots=True)
class GuardHit:
    """The first guard that matched (or timed out)."""

    index: int
    action: str
    reason: str
    timed_out: bool = False


def compile_pattern(pattern: str, flags: str = "") -> regex.Pattern[str]:
    """Compile a guard pattern with its flags.

    Raises:
        PatternError: an unknown flag, or a pattern the regex package refuses.
    """
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise PatternError(f"unknown flag(s) {''.join(unknown)!r}; use any of 'imsx'")
    try:
        return _compiled(pattern, flags)
    except regex.error as exc:
        raise PatternError(f"invalid regular expression: {exc}") from exc


@lru_cache(maxsize=512)
def _compiled(pattern: str, flags: str) -> regex.Pattern[str]:
    value = 0
    for flag in flags:
        value |= FLAGS[flag]
    return regex.compile(pattern, value)


def scan(guards: Sequence[Guard], text: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> GuardHit | None:
    """The first guard, in list order, whose pattern matches ``text``; a timeout is a hit.

    Returns None when no guard matches.
    """
    for guard in guards:
        try:
            found = compile_pattern(guard.pattern, guard.flags).search(text, timeout=timeout_s)
        except TimeoutError:
            return GuardHit(guard.index, guard.action, TIMEOUT_REASON, timed_out=True)
        if found is not None:
            return GuardHit(guard.index, guard.action, guard.reason)
    return None
