"""Small bar charts as inline SVG, drawn on the server (no chart library, no script).

Pure: numbers in, SVG text out (every label escaped). ``None`` in a series is
a bucket with nothing to measure (drawn as a gap, not as zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 360, 110
_TOP, _BOTTOM, _LEFT = 8, 18, 34


@dataclass(frozen=True, slots=True)
class Series:
    """One chart's buckets, oldest first, and what they are."""

    title: str
    values: tuple[float | None, ...]
    unit: str = ""  # shown after the axis maximum ("%", "/min")
    ceiling: float | None = None  # a fixed axis top (100 for a rate); else the largest value
    first_label: str = ""  # under the first bucket ("-60 min")
    last_label: str = ""  # under the last ("now")


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def bar_chart(series: Series, css_id: str) -> str:
    """An accessible SVG bar chart (``role="img"`` with a text alternative giving the numbers)."""
    values = series.values
    known = [v for v in values if v is not None]
    top = series.ceiling if series.ceiling is not None else max(known, default=0.0)
    top = top or 1.0
    inner_w, inner_h = WIDTH - _LEFT - 4, HEIGHT - _TOP - _BOTTOM
    step = inner_w / max(len(values), 1)
    bars = []
    for i, value in enumerate(values):
        if value is None:
            continue
        h = max(0.0, min(1.0, value / top)) * inner_h
        x = _LEFT + i * step
        bars.append(
            f'<rect class="bar" x="{x + 0.5:.1f}" y="{_TOP + inner_h - h:.1f}" width="{max(step - 1, 1):.1f}" '
            f'height="{h:.1f}"><title>{escape(_fmt(value))}{escape(series.unit)}</title></rect>'
        )
    total = sum(known)
    summary = (
        f"{series.title}: no data" if not known
        else f"{series.title}: latest {_fmt(known[-1])}{series.unit}, highest {_fmt(max(known))}{series.unit}, "
        f"{len(known)} of {len(values)} buckets with data, total {_fmt(total)}"
    )  # fmt: skip
    base = _TOP + inner_h
    return (
        f'<svg id="{escape(css_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(summary)}</title>"
        f'<line class="axis" x1="{_LEFT}" y1="{base}" x2="{WIDTH - 4}" y2="{base}"/>'
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{base}"/>'
        f'<text class="label" x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{escape(_fmt(top))}{escape(series.unit)}</text>'
        f'<text class="label" x="{_LEFT - 4}" y="{base}" text-anchor="end">0</text>'
        f'<text class="label" x="{_LEFT}" y="{HEIGHT - 4}">{escape(series.first_label)}</text>'
        f'<text class="label" x="{WIDTH - 4}" y="{HEIGHT - 4}" text-anchor="end">{escape(series.last_label)}</text>'
        + "".join(bars)
        + "</svg>"
    )


def buckets(times: Sequence[float], *, start: float, width_s: float, count: int) -> list[int]:
    """How many of ``times`` (epoch s) fall in each of ``count`` buckets of ``width_s`` from ``start``."""
    out = [0] * count
    for t in times:
        i = int((t - start) // width_s)
        if 0 <= i < count:
            out[i] += 1
    return out


def rates(ok: Sequence[int], total: Sequence[int]) -> tuple[float | None, ...]:
    """Per-bucket percentage ``ok / total``; None where nothing happened."""
    return tuple(round(100.0 * o / t, 1) if t else None for o, t in zip(ok, total, strict=True))
