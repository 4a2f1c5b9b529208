"""Per-family reason report of bench/score_bounces.py (--families): see that module's docstring.

Rows are (file, expected reason class, predicted class, reported status);
score_bounces passes only the tuning part's rows unless told to spoil the
kept-aside fifth.
"""

from __future__ import annotations

import re
from collections import defaultdict

_NUMBERED = re.compile(r"-\d+\.eml$")


def family(name: str) -> str:
    """The family a corpus file belongs to: its name without the number ("lhost-postfix")."""
    return _NUMBERED.sub("", name)


def print_families(reason_rows: list[tuple[str, str, str, str]]) -> None:
    """Per-family reason accuracy and the leave-one-file-out agreement of status -> reason."""
    by_family: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for row in reason_rows:
        by_family[family(row[0])].append(row)
    print("--- reason by family (siblings: same family, other file, same reported status)")
    print(f"{'family':26s} {'files':>5s} {'reason':>14s} {'with sibling':>12s} {'agree':>6s}")
    totals: dict[str, int] = defaultdict(int)
    listings: list[str] = []
    for name, rows in sorted(by_family.items(), key=lambda item: (-len(item[1]), item[0])):
        files = sorted({row[0] for row in rows})
        right = sum(want == got for _, want, got, _ in rows)
        with_sibling = agree = 0
        lines = []
        for file, want, got, status in rows:
            votes = [w for f, w, _, s in rows if f != file and s == status]
            top = max(set(votes), key=votes.count) if votes else ""
            with_sibling += bool(votes)
            agree += top == want
            siblings = ", ".join(f"{w} x{votes.count(w)}" for w in sorted(set(votes))) or "none"
            mark = "ok  " if want == got else "MISS"
            lines.append(f"    {mark} {file}: want {want} got {got} status {status} | siblings {siblings}")
        multi = len(files) >= 2
        totals["records"] += len(rows)
        totals["right"] += right
        totals["multi"] += len(rows) if multi else 0
        totals["multi right"] += right if multi else 0
        totals["with sibling"] += with_sibling
        totals["agree"] += agree
        print(
            f"{name:26s} {len(files):5d} {right:5d}/{len(rows):<4d}{100.0 * right / len(rows):4.0f}% {with_sibling:12d} {agree:6d}"
        )
        if multi and right < len(rows):
            listings.append(f"  {name}:")
            listings.extend(lines)
    print(
        f"records {totals['records']}, right {totals['right']}; in families of >= 2 files {totals['multi']}"
        f" (right {totals['multi right']}); with a same-status sibling {totals['with sibling']},"
        f" whose siblings' majority agrees {totals['agree']}"
    )
    print("--- files of families with a miss")
    for line in listings:
        print(line)
