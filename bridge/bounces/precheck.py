"""The early exit for ordinary mail: decide cheaply that no check of the classifier can fire.

Pure: no I/O. ``classify`` runs on every inbound message and nearly all of
them are ordinary mail. Each later check needs at least one of the signs
tested here (a report part, a failure/complaint/auto-reply header, a pasted
DSN, an SES notification, a failure phrase strong enough on its own), so
when none is present the answer is None without splitting the notice,
parsing DSN fields or reading the returned message. The tests are the
classifier's own (shared with ``arf``, ``dsn``, ``textbounce`` and
``autoreply``), never looser stand-ins, so the exit cannot change a result.
"""

from __future__ import annotations

from bridge.bounces import arf, autoreply, dsn, textbounce
from bridge.bounces.parts import Message, own_parts, part_text

# Parts that make a message a report whatever its headers say (RFC 3464,
# RFC 6533, RFC 5965).
_REPORT_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status", "message/feedback-report"})


def cannot_be_report(msg: Message, body: str, decoded: dict[int, str] | None = None) -> bool:
    """True when the message can be neither a bounce, a complaint, a success DSN nor an auto-reply.

    Args:
        msg: the message tree.
        body: its report text, as ``parts.report_texts`` joins it (the
            text the text-bounce and SES checks read).
        decoded: part texts ``report_texts`` already decoded, by ``id(part)``.

    Returns:
        True only when every check of the classifier would say no.
    """
    pasted: list[Message] = []
    for part in own_parts(msg):
        if part.get_content_type() in _REPORT_TYPES:
            return False
        if dsn.may_hold_fields(part):
            pasted.append(part)
    if textbounce.envelope_says_report(msg) or arf.looks_forwarded(msg) or autoreply.is_autoreply(msg):
        return False
    # The notice the text-bounce check reads is a prefix of body, so a
    # phrase absent from body is absent from it.
    if "notificationType" in body or "eventType" in body or textbounce.has_strong_phrase(body):
        return False
    known = decoded or {}
    return not any(dsn.spells_out_fields(known.get(id(part)) or part_text(part)) for part in pasted)
