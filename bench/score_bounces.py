"""Score bridge.bounces against the bounce and ARF corpora in tests/corpora.

Usage: .venv/bin/python bench/score_bounces.py [--corpus DIR] [--show FIELD] [--misses]
                                             [--folds K [--seed N] [--select I,J]] [--families]
                                             [--i-know-this-spoils-the-holdout]

Reads corpora/bounces/expected.jsonl, negatives.jsonl and
corpora/arf/expected.jsonl (paths relative to --corpus, default
tests/corpora) and prints per-field accuracy.

Comparison rules (documented here because the numbers depend on them):
- recipients: per bounce file (a file with at least one expected record that
  is not feedback/vacation), the set of addresses, compared case-insensitively.
- per-recipient fields (status, reason, hard, action): each expected record is
  paired with the predicted recipient of the same address; if exactly one of
  each is left unpaired in a file, they are paired. An unpaired record counts
  as wrong.
- status: Sisimai pseudo codes X.0.9nn (invented when a bounce has no enhanced
  code, per the corpus README) are compared as X.0.0, which is what the
  classifier reports when the message carries only a class.
- reason: compared through bridge.bounces.REASON_CLASS (the README's coarse
  classes); exact-name agreement is printed too.
- original Message-ID: over bounce files whose expected message_id is not empty.
- negatives: files with is_bounce false must not come out as a bounce; the
  "ambiguous" one must only not crash (its kind is printed).

Kept-aside fifth (issue 11): a fifth of the bounce files, drawn with a fixed
seed (bench/bounce_split.py, random.Random(20261207)) before the rules of
issue 11 part 2 were written, is scored separately and never shown: every
field is printed for the tuning part (the other four fifths), the kept-aside
part and the total, side by side, while --misses, --show, --families and
--folds see only the tuning part unless --i-know-this-spoils-the-holdout is
given. Rules are written from the tuning part's misses; the kept-aside
column is the honest estimate of how they do on unseen reports. The ARF
corpus and the negatives are not split (printed in the total column).

Fold spread (--folds K --seed N): the tuning part's files are shuffled with
random.Random(N) and dealt into K folds (all records of a message stay in
one fold, since they share a report). The per-fold scores show how much the
numbers move with the sample. --select I,J restricts scoring and --misses to
those folds.

Families (--families): the reason score per file family (the file name
without its number: lhost-postfix, rhost-google, rfc3464, ...), since the
held-out fifth is drawn from the same families. For every record of a family
with at least two scored files, "siblings" are the records of the family's
other files with the same reported status code (an observable feature); the
record "agrees" when the siblings' most common expected reason class is its
own. That is a leave-one-file-out check of a family rule keyed on the status
code: a family where siblings disagree cannot be fixed by such a rule, and a
record with no sibling can only be covered by a rule its own file motivated.
With --select, only the selected folds are counted (so the held-out files stay
unseen); the listing of each miss-bearing family's files is printed too.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bounce_families  # noqa: E402
import bounce_split  # noqa: E402

from bridge.bounces import REASON_CLASS, BounceRecipient, Kind, Reason, Report, classify  # noqa: E402
from bridge.mail.message import parse  # noqa: E402

_PSEUDO = re.compile(r"^([245])\.0\.9\d\d$")
_PLACEHOLDER = "undisclosed-recipient-in-headers@libsisimai.org.invalid"
_NON_BOUNCE = ("feedback", "vacation")


def _status_key(status: str) -> str:
    match = _PSEUDO.match(status)
    return f"{match.group(1)}.0.0" if match else status


def _reason_class(name: str) -> str:
    try:
        return REASON_CLASS[Reason(name)]
    except ValueError:
        # Newer Sisimai names (2025-2026 tables) folded into the same classes.
        return {"ratelimited": "temporary", "emailtoolarge": "size"}.get(name, name)


def _run(path: Path) -> tuple[Report | None, str | None]:
    try:
        return classify(parse(path.read_bytes())), None
    except Exception as exc:  # noqa: BLE001 - a crash is what we count
        return None, f"{type(exc).__name__}: {exc}"


class Tally:
    """Counts of right / total per field, plus the misses for --show."""

    def __init__(self) -> None:
        self.right: dict[str, int] = defaultdict(int)
        self.total: dict[str, int] = defaultdict(int)
        self.misses: dict[str, list[str]] = defaultdict(list)
        # One row per scored reason record: (file, want class, got class, reported status).
        self.reason_rows: list[tuple[str, str, str, str]] = []

    def add(self, field: str, ok: bool, note: str) -> None:
        self.total[field] += 1
        if ok:
            self.right[field] += 1
        else:
            self.misses[field].append(note)

    def pct(self, field: str) -> float:
        return 100.0 * self.right[field] / self.total[field] if self.total[field] else 100.0


def _pair(
    expected: list[dict[str, object]], report: Report | None
) -> list[tuple[dict[str, object], BounceRecipient | None]]:
    predicted = list(report.recipients) if report else []
    pairs: list[tuple[dict[str, object], BounceRecipient | None]] = []
    left: list[dict[str, object]] = []
    for record in expected:
        match = next((p for p in predicted if p.recipient.lower() == str(record["recipient"]).lower()), None)
        if match is not None:
            predicted.remove(match)
            pairs.append((record, match))
        else:
            left.append(record)
    if len(left) == 1 and len(predicted) == 1:
        pairs.append((left[0], predicted[0]))
        left = []
    pairs.extend((record, None) for record in left)
    return pairs


def _expected_by_file(corpus: Path) -> dict[str, list[dict[str, object]]]:
    by_file: dict[str, list[dict[str, object]]] = defaultdict(list)
    for line in (corpus / "bounces" / "expected.jsonl").read_text().splitlines():
        record = json.loads(line)
        by_file[record["file"]].append(record)
    return by_file


def folds(names: Collection[str], k: int, seed: int) -> list[set[str]]:
    """Deal these corpus files into k folds, at random but reproducibly for a seed."""
    names = sorted(names)
    random.Random(seed).shuffle(names)
    return [set(names[i::k]) for i in range(k)]


def score_bounces(corpus: Path, tally: Tally, crashes: list[str], only: Collection[str] | None = None) -> None:
    for name, records in sorted(_expected_by_file(corpus).items()):
        if only is not None and name not in only:
            continue
        report, error = _run(corpus / "bounces" / "eml" / name)
        if error:
            crashes.append(f"{name}: {error}")
        reasons = {r["reason"] for r in records}
        if reasons == {"vacation"}:
            tally.add(
                "autoreply kind",
                report is not None and report.kind is Kind.AUTOREPLY,
                f"{name}: {report.kind if report else None}",
            )
            continue
        if reasons == {"feedback"}:
            continue  # scored from arf/expected.jsonl
        bounce_records = [r for r in records if r["reason"] not in _NON_BOUNCE]
        want = {str(r["recipient"]).lower() for r in bounce_records}
        got = {p.recipient.lower() for p in report.recipients} if report else set()
        kind = report.kind.value if report else None
        expected_kind = "delivered" if reasons == {"delivered"} else "bounce"
        tally.add("kind", kind == expected_kind, f"{name}: want {expected_kind} got {kind}")
        tally.add("recipients", want == got, f"{name}: want {sorted(want)} got {sorted(got)}")
        for record, predicted in _pair(bounce_records, report):
            tag = f"{name} {record['recipient']}"
            if predicted is None:
                tally.reason_rows.append((name, _reason_class(str(record["reason"])), "(not found)", ""))
                for field in ("status", "reason", "hard", "action"):
                    tally.add(field, False, f"{tag}: not found")
                continue
            want_status = _status_key(str(record["status"]))
            tally.add(
                "status",
                predicted.status == want_status,
                f"{tag}: want {record['status']} got {predicted.status} | {predicted.diagnostic[:160]}",
            )
            want_class, got_class = _reason_class(str(record["reason"])), _reason_class(predicted.reason.value)
            tally.reason_rows.append((name, want_class, got_class, predicted.status))
            tally.add(
                "reason",
                want_class == got_class,
                f"{tag}: want {record['reason']} got {predicted.reason.value} | {predicted.diagnostic[:160]}",
            )
            tally.add(
                "reason (exact name)",
                record["reason"] == predicted.reason.value,
                f"{tag}: want {record['reason']} got {predicted.reason.value}",
            )
            tally.add(
                "hard",
                bool(record["hardbounce"]) == predicted.hard,
                f"{tag}: want {record['hardbounce']} got {predicted.hard} ({predicted.reason.value})"
                f" | {predicted.diagnostic[:160]}",
            )
            if record["action"]:
                tally.add(
                    "action",
                    record["action"] == predicted.action,
                    f"{tag}: want {record['action']} got {predicted.action}",
                )
        message_id = next((str(r["message_id"]) for r in records if r["message_id"]), "")
        if message_id:
            got_id = report.original_message_id if report else None
            tally.add("original Message-ID", got_id == message_id, f"{name}: want {message_id} got {got_id}")


def score_negatives(corpus: Path, tally: Tally, crashes: list[str]) -> list[str]:
    notes = []
    for line in (corpus / "bounces" / "negatives.jsonl").read_text().splitlines():
        record = json.loads(line)
        report, error = _run(corpus / "bounces" / record["file"])
        if error:
            crashes.append(f"{record['file']}: {error}")
        kind = report.kind.value if report else None
        if record["is_bounce"] is False:
            tally.add("negatives not bounce", kind != "bounce", f"{record['file']}: {kind}")
        else:
            notes.append(f"{record['file']} (ambiguous, must not crash): kind={kind}")
    return notes


def score_arf(corpus: Path, tally: Tally, crashes: list[str]) -> None:
    for line in (corpus / "arf" / "expected.jsonl").read_text().splitlines():
        record = json.loads(line)
        report, error = _run(corpus / record["file"])
        if error:
            crashes.append(f"{record['file']}: {error}")
        if "reports" in record:
            want_type = record["reports"][0]["feedback_type"]
            want_rcpt = {r["recipient"].lower() for r in record["reports"] if r["recipient"] != _PLACEHOLDER}
        else:
            want_type = record["expected"]["feedback_type"]
            rcpt = record["expected"].get("original_rcpt_to", "")
            want_rcpt = {rcpt.strip("<>").lower()} if rcpt else set()
        ok = report is not None and report.kind is Kind.COMPLAINT and report.feedback_type == want_type
        tally.add(
            "complaint feedback type",
            ok,
            f"{record['file']}: want {want_type} got {report.feedback_type if report else None}",
        )
        if want_rcpt:
            got = {p.recipient.lower() for p in report.recipients} if report else set()
            tally.add("complaint recipients", got == want_rcpt, f"{record['file']}: want {want_rcpt} got {got}")


TARGETS = {
    "recipients": 97.0,
    "status": 93.0,
    "reason": 90.0,
    "complaint feedback type": 95.0,
    "negatives not bounce": 100.0,
}


FOLD_FIELDS = ("recipients", "status", "reason", "hard")


def print_folds(corpus: Path, names: Collection[str], k: int, seed: int) -> None:
    """Print each fold's scores and the spread (min, max, standard deviation) across folds."""
    print(f"--- {k} folds of {len(names)} files, seed {seed}")
    print(f"{'fold':6s} {'files':>5s} " + " ".join(f"{f:>17s}" for f in FOLD_FIELDS))
    per_field: dict[str, list[float]] = defaultdict(list)
    for index, fold in enumerate(folds(names, k, seed)):
        tally, crashes = Tally(), list[str]()
        score_bounces(corpus, tally, crashes, fold)
        cells = []
        for field in FOLD_FIELDS:
            per_field[field].append(tally.pct(field))
            cells.append(f"{tally.right[field]:4d}/{tally.total[field]:<4d} {tally.pct(field):6.1f}%")
        print(f"{index:<6d} {len(fold):5d} " + " ".join(f"{c:>17s}" for c in cells))
    for label, func in (("min", min), ("max", max), ("mean", statistics.mean), ("stdev", statistics.stdev)):
        print(f"{label:12s} " + " ".join(f"{func(per_field[f]):16.1f}%" for f in FOLD_FIELDS))


def merge(*tallies: Tally) -> Tally:
    """One tally with the counts (and misses) of several."""
    merged = Tally()
    for tally in tallies:
        for field, count in tally.total.items():
            merged.total[field] += count
            merged.right[field] += tally.right[field]
            merged.misses[field].extend(tally.misses.get(field, []))
        merged.reason_rows.extend(tally.reason_rows)
    return merged


def _cell(tally: Tally, field: str) -> str:
    if not tally.total[field]:
        return ""
    return f"{tally.right[field]:4d}/{tally.total[field]:<4d} {tally.pct(field):5.1f}%"


def print_table(tuned: Tally, kept: Tally, total: Tally) -> None:
    """Per-field accuracy of the tuning part, the kept-aside fifth and the total, side by side."""
    print(f"{'field':26s} {'tuning (4/5)':>17s} {'kept aside (1/5)':>17s} {'total':>17s}")
    for field in total.total:
        target = TARGETS.get(field)
        mark = "" if target is None else (" ok" if total.pct(field) >= target else f" BELOW {target:.0f}%")
        cells = " ".join(f"{_cell(t, field):>17s}" for t in (tuned, kept, total))
        print(f"{field:26s} {cells}{mark}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpora")
    parser.add_argument("--show", action="append", default=[], help="print the misses of this field (tuning part)")
    parser.add_argument(
        "--misses", "--verbose", action="store_true", help="print the misses (expected vs got) of the tuning part"
    )
    parser.add_argument("--folds", type=int, default=0, help="also print per-fold scores over K folds of files")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fold split (default 1)")
    parser.add_argument(
        "--families", action="store_true", help="print reason accuracy per file family (see the module doc)"
    )
    parser.add_argument("--select", default="", help="with --folds: score only these folds (comma-separated, 0-based)")
    parser.add_argument(
        bounce_split.SPOIL_FLAG,
        dest="spoil",
        action="store_true",
        help="let --misses/--show/--families/--folds see the kept-aside fifth (spoils the estimate: do not)",
    )
    args = parser.parse_args()
    if not (args.corpus / "bounces" / "expected.jsonl").is_file():
        print(f"corpus not found at {args.corpus} (expected bounces/expected.jsonl there)", file=sys.stderr)
        return 2
    every = set(_expected_by_file(args.corpus))
    kept_names = bounce_split.kept_aside(every)
    tuning_names = every - kept_names
    visible = every if args.spoil else tuning_names
    print(
        f"bounce corpus: {len(every)} files; kept aside {len(kept_names)}"
        f" (seed {bounce_split.HOLDOUT_SEED}), tuning {len(tuning_names)}"
    )
    if args.select and args.folds < 2:
        parser.error("--select needs --folds K (K >= 2)")
    started = time.perf_counter()
    tuned, kept, rest, crashes, kept_crashes = Tally(), Tally(), Tally(), list[str](), list[str]()
    score_bounces(args.corpus, tuned, crashes, tuning_names)
    score_bounces(args.corpus, kept, kept_crashes, kept_names)
    crashes += kept_crashes if args.spoil else [f"{len(kept_crashes)} kept-aside file(s)"] * bool(kept_crashes)
    notes = score_negatives(args.corpus, rest, crashes)
    score_arf(args.corpus, rest, crashes)
    elapsed = time.perf_counter() - started
    print_table(tuned, kept, merge(tuned, kept, rest))
    print(f"{'crashes':26s} {len(crashes)}")
    for line in crashes + notes:
        print("  " + line)
    print(f"elapsed {elapsed:.2f}s")
    shown = merge(tuned, kept, rest) if args.spoil else merge(tuned, rest)
    if args.select:
        split = folds(visible, args.folds, args.seed)
        only = set().union(*(split[int(i)] for i in args.select.split(",")))
        print(f"--- folds {args.select} of {args.folds} (seed {args.seed}) of the visible files: {len(only)}")
        shown = Tally()
        score_bounces(args.corpus, shown, crashes, only)
        for field in shown.total:
            print(f"{field:26s} {_cell(shown, field)}")
    if args.families:
        bounce_families.print_families(shown.reason_rows)
    if args.folds >= 2 and not args.select:
        print_folds(args.corpus, visible, args.folds, args.seed)
    for field in list(shown.total) if args.misses else args.show:
        if not shown.misses.get(field):
            continue
        print(f"--- misses: {field}" + ("" if args.spoil else " (tuning part only)"))
        for miss in shown.misses.get(field, []):
            print("  " + miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
