"""The suite and the benchmarks carry their own data: a clone with nothing beside it must pass.

A user's clone has nothing beside it (no sibling ``shared`` directory), so no test, fixture, server
helper or score script may read from outside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT / "tests" / "corpora"

# Paths that climb out of the repository: a sibling shared directory, parents[3] / ..., ROOT.parent / ...
OUTSIDE = re.compile(
    r"\.\./shared|[\"']shared[\"']\s*/|/\s*[\"']shared[\"']|\.parent\.parent\.parent\.parent|parents\[3\]"
)


def _sources() -> list[Path]:
    here = Path(__file__).resolve()  # this file spells the patterns it looks for
    return sorted(p for d in ("tests", "bench") for p in (ROOT / d).rglob("*.py") if p != here)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_reads_outside_the_repository(path: Path) -> None:
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} lines {hits} point outside the repository"


@pytest.mark.parametrize(
    ("corpus", "expected", "minimum"),
    [
        ("bounces/eml", "*.eml", 500),
        ("mime/eml", "*.eml", 80),
        ("auth/arc", "*.yml", 2),
        ("auth/spf", "*.yml", 3),
        ("auth/dkim/mail-dkim", "*", 50),
    ],
)
def test_corpora_ship_with_the_repository(corpus: str, expected: str, minimum: int) -> None:
    found = list((CORPORA / corpus).rglob(expected))
    assert len(found) >= minimum, f"tests/corpora/{corpus} has {len(found)} files"


def test_every_corpus_set_names_its_source_and_licence() -> None:
    for part in ("bounces", "mime", "auth", "arf"):
        assert (CORPORA / part / "README.md").is_file(), f"tests/corpora/{part} has no README"
    licences = [
        p.relative_to(CORPORA).parts[0] for p in CORPORA.rglob("*") if "LICENSE" in p.name or "NOTICE" in p.name
    ]
    assert {"bounces", "mime", "auth"} <= set(licences)
