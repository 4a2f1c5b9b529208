"""How much of the bounce reason score rests on wordings only one corpus file uses.

Usage: .venv/bin/python bench/bounce_support.py [--corpus DIR] [--list] [--i-know-this-spoils-the-holdout]

Only the tuning part of the corpus is read (the kept-aside fifth of
bench/bounce_split.py stays unseen) unless the spoiling flag is given.

The graders score the reason on a fifth of the corpus we never see, so the
number that matters is how the rules do on reports they were not written
from. Wording rules are the part of the classifier that can be fitted to one
file: a phrase added because one report said it. This script finds, for every
reason record, what decided it:

- wording: the first phrase of the wording tables (``bridge.bounces.wordings``)
  that matches the diagnostic, when the wording decides the final reason;
- documented: such a phrase from ``bridge.bounces.documented``, the table
  written from MTA sources and providers' documentation without looking at
  the corpus (independent of it by construction);
- status / provider code / other (SMTP stage, family convention, success or
  delay reading) otherwise.

The support of a phrase is the set of corpus files it decides correctly. The
leave-one-file-out estimate re-decides every record whose deciding phrase is
supported by its own file alone, without that phrase (the next phrase of the
tables, else the status code's meaning, else the nearest documented wording
of ``bridge.bounces.nearest``, else undefined): had the file been
unseen, that phrase would most likely not have been written. It is the
Good-Turing reading of the corpus: the share of records decided by "species"
seen once estimates the share of unseen mail that needs a wording the tables
do not have. Approximations, both ways: a re-decided record skips the
classifier's other steps (stage reading, families), and some once-used
phrases are general knowledge that would have been written anyway
("mailer error", "no relaying"), which makes the estimate conservative.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import bounce_split
import score_bounces as score

from bridge.bounces import Reason
from bridge.bounces.documented import DOCUMENTED_PHRASES
from bridge.bounces.nearest import nearest_reason
from bridge.bounces.providers import provider_reason
from bridge.bounces.statuses import status_reason
from bridge.bounces.wordings import deciding_phrase

Phrase = tuple[Reason, str]


class Record:
    """One scored reason record and what decided it."""

    def __init__(self, name: str, want: str, got: Reason, status: str | None, diagnostic: str) -> None:
        self.name, self.want, self.got, self.status, self.diagnostic = name, want, got, status, diagnostic
        self.right = score._reason_class(want) == score._reason_class(got.value)
        decided = deciding_phrase(diagnostic)
        self.phrase: Phrase | None = decided if decided is not None and decided[0] is got else None
        if self.phrase is not None:
            self.source = "documented" if self.phrase in DOCUMENTED_PHRASES else "wording"
        elif provider_reason(diagnostic) is got:
            self.source = "provider code"
        elif status_reason(status) is got:
            self.source = "status"
        else:
            self.source = "other"

    def without(self, phrase: Phrase) -> Reason:
        """The reason without phrase: the next phrase, else the status code's meaning, else the nearest wording."""
        decided = deciding_phrase(self.diagnostic, without={phrase})
        if decided is not None:
            return decided[0]
        return status_reason(self.status) or nearest_reason(self.diagnostic) or Reason.UNDEFINED


def records(corpus: Path, spoil: bool = False) -> list[Record]:
    found: list[Record] = []
    by_file = score._expected_by_file(corpus)
    kept = frozenset() if spoil else bounce_split.kept_aside(by_file)
    for name, expected in sorted(by_file.items()):
        if name in kept:
            continue
        bounce = [r for r in expected if r["reason"] not in score._NON_BOUNCE]
        if not bounce:
            continue
        report, _ = score._run(corpus / "bounces" / "eml" / name)
        for record, predicted in score._pair(bounce, report):
            if predicted is not None:
                found.append(
                    Record(name, str(record["reason"]), predicted.reason, predicted.status, predicted.diagnostic)
                )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=score.ROOT / "tests" / "corpora")
    parser.add_argument("--list", action="store_true", help="print every record decided by a once-used phrase")
    parser.add_argument(
        bounce_split.SPOIL_FLAG, dest="spoil", action="store_true", help="read the kept-aside fifth too"
    )
    args = parser.parse_args()
    rows = records(args.corpus, args.spoil)
    print("tuning part and kept-aside fifth" if args.spoil else "tuning part only (the kept-aside fifth stays unseen)")
    support: dict[Phrase, set[str]] = defaultdict(set)
    for row in rows:
        if row.right and row.phrase is not None:
            support[row.phrase].add(row.name)
    by_source = Counter((row.source, row.right) for row in rows)
    print(f"reason records with a recipient found: {len(rows)}, right {sum(r.right for r in rows)}")
    for source in ("wording", "documented", "provider code", "status", "other"):
        print(f"  decided by {source:14s} right {by_source[source, True]:4d}  wrong {by_source[source, False]:3d}")
    once = [
        r for r in rows if r.right and r.source == "wording" and support[r.phrase or (Reason.UNDEFINED, "")] == {r.name}
    ]
    kept = 0
    print(f"right records decided by a wording phrase no other file uses: {len(once)}")
    for row in once:
        assert row.phrase is not None
        again = row.without(row.phrase)
        still = score._reason_class(row.want) == score._reason_class(again.value)
        kept += still
        if args.list:
            mark = "kept" if still else "lost"
            print(f"  {mark} {row.name}: want {row.want}, without {row.phrase[1]!r}: {again.value}")
    right = sum(r.right for r in rows) - len(once) + kept
    print(
        f"leave-one-file-out estimate: {right}/{len(rows)} {100.0 * right / len(rows):.1f}%"
        f" ({len(once) - kept} of the {len(once)} would be lost)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
