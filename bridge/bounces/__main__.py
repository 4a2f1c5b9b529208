"""Command line: ``python -m bridge.bounces FILE...``.

Prints one JSON object per file per line. This is the only part of the
package that reads files; an unreadable file yields ``{"file", "error"}``
and the others go on. Exit status is 0 unless the usage is wrong (2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from bridge.bounces import Report, classify
from bridge.mail.message import parse

_USAGE = "usage: python -m bridge.bounces FILE..."


def report_to_json(path: str, report: Report | None) -> dict[str, object]:
    """Render a Report as the CLI's JSON shape (camelCase, like the REST API)."""
    if report is None:
        return {
            "file": path,
            "kind": None,
            "reportingMta": None,
            "originalMessageId": None,
            "feedbackType": None,
            "recipients": [],
        }
    return {
        "file": path,
        "kind": report.kind.value,
        "reportingMta": report.reporting_mta,
        "originalMessageId": report.original_message_id,
        "feedbackType": report.feedback_type,
        "recipients": [
            {
                "recipient": r.recipient,
                "action": r.action,
                "status": r.status,
                "replyCode": r.reply_code,
                "diagnostic": r.diagnostic,
                "reason": r.reason.value,
                "remoteMta": r.remote_mta,
                "hard": r.hard,
            }
            for r in report.recipients
        ],
    }


def main(argv: Sequence[str]) -> int:
    """Classify each file named in argv and print one JSON line per file."""
    if not argv or any(arg in ("-h", "--help") for arg in argv):
        print(_USAGE, file=sys.stderr)
        return 2
    for path in argv:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            print(json.dumps({"file": path, "error": f"{type(exc).__name__}: {exc.strerror or exc}"}))
            continue
        print(json.dumps(report_to_json(path, classify(parse(raw))), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
