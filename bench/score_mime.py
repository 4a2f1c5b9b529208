"""Score bridge.mail.message against the MIME corpus (Stalwart mail-parser expectations).

Usage: .venv/bin/python bench/score_mime.py [--corpus DIR] [--verbose] [--timing]

Compares per field: every message in ``eml/`` against ``expected.jsonl`` and
the header vectors that map onto a ParsedMessage field. Prints per-field
accuracy and a total (correct / checked over all fields). The ``list`` and
``received`` vectors are counted as not applicable: ParsedMessage has no
Keywords or Received field (Received parsing belongs to auth_results).
"""

from __future__ import annotations

import argparse
import email.message
import email.utils
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.mail.headers import decode_words, parse_addresses, parse_date, parse_ids  # noqa: E402
from bridge.mail.message import Address, ParsedMessage, parse  # noqa: E402

Node = dict[str, object]


def _nodes(node: Node) -> list[Node]:
    out = [node]
    for child in node.get("children", []) or []:  # type: ignore[union-attr]
        out.extend(_nodes(child))
    return out


def _flatten(entries: object) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for entry in entries or []:  # type: ignore[union-attr]
        if "addresses" in entry:
            out.extend(_flatten(entry["addresses"]))
        else:
            out.append((entry.get("name") or "", entry.get("address") or ""))
    return out


def _pairs(addresses: list[Address]) -> list[tuple[str, str]]:
    return [(a.name, a.address) for a in addresses]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _body_ok(got: str | None, parts: list[Node]) -> bool:
    if not parts:
        return got is None
    if got is None:
        return False
    if all("text" in p for p in parts):
        return _squash(got) == _squash("\n".join(str(p["text"]) for p in parts))
    if len(parts) == 1:
        part = parts[0]
        if hashlib.sha256(got.encode("utf-8", "surrogatepass")).hexdigest() == part["text_utf8_sha256"]:
            return True
        prefix = _squash(str(part["text_prefix"]))
        return _squash(got).startswith(prefix) and len(got) == part["text_chars"]
    first = parts[0]
    return _squash(got).startswith(_squash(str(first.get("text", first.get("text_prefix", "")))))


def _attachment_keys(record: Node, index: dict[int, Node]) -> list[tuple[str, int | None]]:
    wanted: list[int] = list(record["attachments"])  # type: ignore[call-overload]
    for key in ("text_body", "html_body"):
        for i in record[key]:  # type: ignore[attr-defined]
            if index[i]["body_kind"] == "inlinebinary" and i not in wanted:
                wanted.append(i)
    keys = []
    for i in sorted(wanted):
        node = index[i]
        ctype = str(node["content_type"] or "text/plain").lower()
        keys.append((ctype, node.get("bytes") if node["body_kind"] in ("binary", "inlinebinary") else None))  # type: ignore[misc]
    return sorted(keys, key=repr)


def score_message(record: Node, parsed: ParsedMessage, tally: dict[str, list[int]], verbose: bool) -> None:
    # Repeated headers come as a list; ParsedMessage keeps the first one.
    record = {
        k: (v[0] if isinstance(v, list) and v and isinstance(v[0], str) and k != "header_names" else v)
        for k, v in record.items()
    }
    index = {int(n["part"]): n for n in _nodes(record["structure"])}  # type: ignore[arg-type, call-overload]

    def check(field: str, ok: bool, got: object = None, want: object = None) -> None:
        tally[field][0] += ok
        tally[field][1] += 1
        if verbose and not ok:
            print(f"  {record['file']} {field}: got {got!r:.300} want {want!r:.300}")

    check("subject", parsed.subject == (record.get("subject") or ""), parsed.subject, record.get("subject"))
    for field, attr in (("from", "from_"), ("to", "to"), ("cc", "cc"), ("reply_to", "reply_to"), ("sender", "sender")):
        got = _pairs(getattr(parsed, attr))
        want = _flatten(record.get(field))
        check(f"addr_{field}", got == want, got, want)
    got_date = parsed.date.isoformat() if parsed.date else None
    check("date", got_date == record.get("date"), got_date, record.get("date"))
    check("message_id", parsed.message_id == record.get("message_id"), parsed.message_id, record.get("message_id"))
    names = [n.lower() for n, _ in parsed.headers]
    want_names = [h.removeprefix("other:").replace("_", "-") for h in record["header_names"]]  # type: ignore[attr-defined]
    check("header_names", names == want_names, names, want_names)
    text_parts = [index[i] for i in record["text_body"] if index[i]["body_kind"] == "text"]  # type: ignore[attr-defined]
    html_parts = [index[i] for i in record["html_body"] if index[i]["body_kind"] == "html"]  # type: ignore[attr-defined]
    check(
        "text",
        _body_ok(parsed.text, text_parts),
        parsed.text,
        [p.get("text", p.get("text_prefix")) for p in text_parts],
    )
    check(
        "html",
        _body_ok(parsed.html, html_parts),
        parsed.html,
        [p.get("text", p.get("text_prefix")) for p in html_parts],
    )
    want_att = _attachment_keys(record, index)
    got_att = sorted(((a.content_type, a.size) for a in parsed.attachments), key=repr)
    check("attachment_count", len(got_att) == len(want_att), got_att, want_att)
    meta_ok = len(got_att) == len(want_att) and all(
        g[0] == w[0] and (w[1] is None or g[1] == w[1])
        for g, w in zip(sorted(got_att), sorted(want_att, key=lambda k: (k[0], k[1] or 0)), strict=True)
    )
    check("attachment_type_size", meta_ok, got_att, want_att)


def _date_key(value: object) -> tuple[int, ...] | None:
    if not isinstance(value, dict):
        return None
    sign = -1 if value["tz_before_gmt"] else 1
    offset = sign * (value["tz_hour"] * 60 + value["tz_minute"])
    return (value["year"], value["month"], value["day"], value["hour"], value["minute"], value["second"], offset)


def _content_type_ok(raw: str, expected: object) -> bool:
    # What the stdlib tree plus our filename decoding yields for this header.
    msg = email.message.Message()
    msg["Content-Type"] = raw.strip()
    if not isinstance(expected, dict):
        return False
    if msg.get_content_type() != f"{expected['c_type']}/{expected['c_subtype']}".lower():
        return False
    want = {k.lower(): v for k, v in (expected.get("attributes") or [])}
    got: dict[str, str] = {}
    for key in want:
        value = msg.get_param(key)
        if isinstance(value, tuple):
            value = email.utils.collapse_rfc2231_value(value)
        if value is not None:
            got[key] = decode_words(value) if key in ("name", "filename") else value
    return got == want


def score_vector(case: Node, tally: dict[str, list[int]], verbose: bool) -> None:
    kind, raw, want = str(case["kind"]), str(case["input"]), case["expected"]
    ok: bool
    got: object
    if kind == "address":
        got = parse_addresses(raw, [], "vector")
        ok = got == [(n, a) for n, a in _flatten(next(iter(want.values())))]  # type: ignore[union-attr]
    elif kind == "date":
        parsed = parse_date(raw, [])
        got = None if parsed is None else (*parsed.timetuple()[:6], int(parsed.utcoffset().total_seconds() // 60))  # type: ignore[union-attr]
        ok = got == _date_key(want)
    elif kind == "id":
        got = parse_ids(raw)
        ok = got == (want or [])
    elif kind == "unstructured":
        got = decode_words(raw)
        ok = got == want
    elif kind == "content_type":
        got = "(stdlib)"
        ok = _content_type_ok(raw, want)
    else:
        tally[f"hv_{kind} (n/a)"][1] += 1
        return
    field = f"hv_{kind}"
    tally[field][0] += ok
    tally[field][1] += 1
    if verbose and not ok:
        print(f"  {field} #{case['n']}: input {raw!r:.120} got {got!r:.200} want {want!r:.200}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpora" / "mime")
    parser.add_argument("--verbose", action="store_true", help="print every mismatch")
    parser.add_argument("--timing", action="store_true", help="time parse() per message")
    args = parser.parse_args()
    corpus: Path = args.corpus.resolve()
    if not (corpus / "expected.jsonl").is_file():
        print(f"corpus not found at {corpus}", file=sys.stderr)
        return 2
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    elapsed = 0.0
    records = [json.loads(line) for line in (corpus / "expected.jsonl").read_text().splitlines() if line]
    by_file = {r["file"]: r for r in records}
    for path in sorted((corpus / "eml").rglob("*.eml")):
        raw = path.read_bytes()
        start = time.perf_counter()
        parsed = parse(raw)
        elapsed += time.perf_counter() - start
        record = by_file.get(str(path.relative_to(corpus)))
        if record is not None:
            score_message(record, parsed, tally, args.verbose)
    for vectors in sorted((corpus / "header-vectors").glob("*.jsonl")):
        for line in vectors.read_text().splitlines():
            if line:
                score_vector(json.loads(line), tally, args.verbose)
    correct = checked = 0
    print(f"{'field':28} {'correct':>8} {'checked':>8} {'accuracy':>9}")
    for field in sorted(tally):
        ok, n = tally[field]
        if field.endswith("(n/a)"):
            print(f"{field:28} {'-':>8} {n:8d} {'n/a':>9}")
            continue
        correct += ok
        checked += n
        print(f"{field:28} {ok:8d} {n:8d} {ok / n:9.1%}")
    print(f"{'TOTAL':28} {correct:8d} {checked:8d} {correct / checked:9.1%}")
    if args.timing:
        count = len(list((corpus / "eml").rglob("*.eml")))
        print(f"parse(): {elapsed / count * 1000:.3f} ms per message over {count} messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
