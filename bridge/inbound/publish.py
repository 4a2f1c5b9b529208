"""Carrying out ``records.message_events`` against storage: the suppressions, then the publications.

Shared by the inbound pipeline (a message delivered on arrival) and an approved inbound
hold (``bridge.review.holds``), so a bounce held for review and released later is tied
to its submission and suppresses its hard-bounced recipients exactly as on arrival.
"""

from __future__ import annotations

from bridge.inbound import records
from bridge.storage import Storage
from bridge.storage.publish import Publication
from bridge.storage.suppressions import now_entry


def publish_message(storage: Storage, account: str, record: records.MessageRecord) -> list[Publication]:
    """Add the suppressions a delivered message calls for and return its publications (not yet emitted)."""

    def sent_lookup(original_message_id: str) -> str | None:
        sent = storage.outbox.find_by_message_id(account, original_message_id)
        return sent.queue_id if sent else None

    decided = records.message_events(record, sent_lookup)
    for s in decided.suppressions:
        entry = now_entry(s.address, s.reason, s.source, message_id=record.id)
        storage.suppressions.add(account, entry, replace=False)
    return [Publication(account, name, data) for name, data in decided.events]
