"""The kept-aside fifth of the bounce corpus stays fixed and unseen (issue 11).

bench/bounce_split.py draws it once with a fixed seed; the scoring tools
print its aggregate score but never its files unless told to spoil it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpora" / "bounces"
sys.path.insert(0, str(REPO / "bench"))

import bounce_split  # noqa: E402

FINGERPRINT = "eb12c12ea76e2225"  # sha256 of the sorted kept-aside names, first 16 hex digits


def names() -> set[str]:
    lines = (CORPUS / "expected.jsonl").read_text().splitlines()
    return {json.loads(line)["file"] for line in lines}


def test_the_kept_aside_fifth_is_fixed_by_its_seed() -> None:
    kept = bounce_split.kept_aside(names())
    assert bounce_split.HOLDOUT_SEED == 20261207
    assert len(kept) == len(names()) // 5 == 103
    assert bounce_split.tuning(names()) == frozenset(names() - kept)
    # A fingerprint, not the list: a changed seed or corpus changes the
    # split and spoils the estimate, which this makes loud.
    digest = hashlib.sha256("\n".join(sorted(kept)).encode()).hexdigest()[:16]
    assert digest == FINGERPRINT


def test_misses_and_families_leave_the_kept_aside_files_out() -> None:
    kept = bounce_split.kept_aside(names())
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "score_bounces.py"), "--misses", "--families"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert "kept aside (1/5)" in result.stdout
    assert "--- misses" in result.stdout  # misses are printed, of the tuning part
    assert not [name for name in kept if name in result.stdout]
