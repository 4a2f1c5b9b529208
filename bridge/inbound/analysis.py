"""What the pure stages make of one fetched message: parse, verify the sender, classify.

Pure but for the resolver it is handed (DNS through ``bridge.senderauth.resolver``'s
seam). The result is small and picklable, with no MIME tree in it, so the
analysis can run in a thread of the watcher or in a worker process
(``bridge.inbound.pool``) and cost the same to hand back.

Malformed mail never stops the pipeline: a failing stage adds to the
record's ``parseErrors`` and the message is still delivered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bridge.bounces import Kind, Report, classify
from bridge.inbound import records
from bridge.mail.message import parse
from bridge.senderauth.resolver_protocol import Resolver
from bridge.senderauth.results import verify_sender

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Analysed:
    """One message's analysis.

    Attributes:
        fields: the record fields taken from the message (``records.message_fields``).
        thread: Message-IDs it refers to, oldest first (References, then In-Reply-To).
        extra: the verdict fields of the record: ``auth``, ``classification``, ``autoReply``.
        classification: the bounce/complaint/auto-reply report, if it is one.
        errors: problems of the analysis itself, added to ``parseErrors``.
    """

    # JSON fields of the record (what REST and webhooks serve), made in a worker process and pickled back.
    fields: dict[str, Any]
    thread: list[str]
    extra: dict[str, Any]
    classification: Report | None
    errors: list[str]


def analyse(
    raw: bytes,
    resolver: Resolver,
    trusted_receivers: tuple[str, ...],
    trusted_arc_sealers: tuple[str, ...] = (),
) -> Analysed:
    parsed = parse(raw)
    errors: list[str] = []
    extra: dict[str, Any] = {}
    try:
        report = verify_sender(parsed, resolver, trusted_receivers, trusted_arc_sealers=trusted_arc_sealers)
        extra["auth"] = records.auth_json(report)
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the mailbox
        log.exception("sender verification failed for Message-ID %r", parsed.message_id)
        errors.append(f"internal: sender verification failed: {exc!r}")
        extra["auth"] = None
    classification: Report | None = None
    try:
        classification = classify(parsed)
    except Exception as exc:  # noqa: BLE001
        log.exception("classification failed for Message-ID %r", parsed.message_id)
        errors.append(f"internal: classification failed: {exc!r}")
    extra["classification"] = records.classification_json(classification)
    extra["autoReply"] = classification is not None and classification.kind is Kind.AUTOREPLY
    thread = list(dict.fromkeys([*parsed.references, *([parsed.in_reply_to] if parsed.in_reply_to else [])]))
    return Analysed(records.message_fields(parsed), thread, extra, classification, errors)
