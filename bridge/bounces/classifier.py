"""Put the pieces together: decide the kind and build the Report.

Pure: no I/O. Owns the order of the checks (complaint, DSN, text bounce,
auto-reply) and the per-recipient assembly of codes, reason and hard flag.
"""

from __future__ import annotations

import re

from bridge.bounces import arf, autoreply, dsn, families, lhosts, precheck, rhosts, sesjson, textbounce
from bridge.bounces.codes import (
    find_reply_code,
    find_status,
    is_specific_failure,
    is_weak,
    parse_dsn_status,
)
from bridge.bounces.model import BounceRecipient, Kind, Reason, Report
from bridge.bounces.nearest import nearest_reason
from bridge.bounces.parts import ADDRESS_RE, Message, header, original_message_id, report_texts
from bridge.bounces.reasons import classify_reason, coarse, is_hard, report_action
from bridge.bounces.stage import find_stage
from bridge.bounces.wordings import text_reason

_REMOTE_RE = re.compile(
    r"(?:remote host|host|server|mta)\s+\[?([A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})\]?"
    r"(?:\s*\[[\d.:a-fA-F]+\])?\s*(?:said|did not like|returned|refused|:)",
    re.IGNORECASE,
)
_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
_MAX_DIAGNOSTIC = 1000


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_DIAGNOSTIC]


def _codes(diagnostic: str, status: str | None, context: str) -> tuple[str | None, str | None]:
    """Return (status, reply code): the diagnostic's own specific code before the Status field.

    RFC 3464 § 2.3.6: Diagnostic-Code is the code "actually issued by the
    mail transport" that refused; the Status field (§ 2.3.4) is the reporting
    MTA's summary of it, often only the class ("5.0.0") or its own queue
    verdict ("4.4.7"). So a specific failure code in the diagnostic wins; a
    weak one (X.Y.0, X.4.7) only replaces a Status of the same class.
    """
    reply = find_reply_code(diagnostic) or find_reply_code(context)
    found = find_status(diagnostic)
    if found is not None and (
        status is None or is_specific_failure(found) or (is_weak(status) and found[0] == status[0])
    ):
        status = found
    if status is None:
        status = find_status(context)
    return status, reply


def _status_class(status: str | None, reply: str | None, delayed: bool) -> str:
    if status:
        return status
    if reply and reply[0] in "245":
        return f"{reply[0]}.0.0"
    return "4.0.0" if delayed else "5.0.0"


def _recipient(
    address: str,
    action: str,
    status: str,
    reply: str | None,
    diagnostic: str,
    remote: str | None,
    context: str,
    stage: str = "",
    diagnostic_type: str = "",
    stated: str = "",
    lhost: str = "",
) -> BounceRecipient:
    """One recipient: ``action`` is how the report reads (a warning is "delayed"), ``stated`` its Action field."""
    provider = rhosts.provider_of(remote, address) if action in ("failed", "delayed") else None
    # A provider's own table reads its replies first (Sisimai's Rhost step
    # comes before its generic reason rules).
    by_host = (
        rhosts.rhost_reason(provider, diagnostic, status, reply, find_stage(diagnostic + "\n" + stage))
        if provider is not None
        else None
    )
    reason = by_host or classify_reason(diagnostic, status, action, stage, context, diagnostic_type, lhost)
    if reason is Reason.UNDEFINED and context:
        reason = text_reason(context) or reason
    if reason is Reason.UNDEFINED:
        # No rule decided, from the reply or the report's text about it:
        # the closest documented wording, if it is close enough.
        # Only the class can be trusted from a resemblance: say the class
        # (its catch-all name), not the example's exact name.
        nearest = nearest_reason(diagnostic or context)
        reason = coarse(nearest) if nearest is not None else reason
    if reason is Reason.UNDEFINED and diagnostic.strip():
        # The taxonomy's two "cannot decide" names: onhold when the report
        # gives an error text that nothing explains, undefined when it
        # gives none (Sisimai's Reason.get).
        reason = Reason.ONHOLD
    action = report_action(stated, reason)
    return BounceRecipient(
        recipient=_normalise(address),
        action=action,
        status=status,
        reply_code=reply,
        diagnostic=_one_line(diagnostic),
        remote_mta=remote,
        reason=reason,
        hard=is_hard(reason, status, action),
    )


def _normalise(address: str) -> str:
    if not address.isascii():
        # RFC 6531/6533 internationalised address ("utf-8;" type): the ASCII
        # pattern would keep only a tail of a non-ASCII local part.
        token = next((t for t in address.split() if "@" in t), "")
        if token:
            local, _, domain = token.strip("<>\"'(),;").rpartition("@")
            return f"{local}@{domain.lower()}"
    match = ADDRESS_RE.search(address)
    if not match:
        return address.strip().strip("<>")
    local, _, domain = match.group(0).partition("@")
    return f"{local}@{domain.lower()}"


def _from_dsn(parsed: dsn.Dsn, notice: str, named: list[str] | None = None, lhost: str = "") -> list[BounceRecipient]:
    named = named or []
    out: list[BounceRecipient] = []
    addresses = [dsn.strip_type(b.get("final-recipient") or b.get("original-recipient")) for b in parsed.recipients]
    texts = {b.recipient.lower(): _diagnostic(b.text) for b in textbounce.blocks(notice, [a for a in addresses if a])}
    for block in parsed.recipients:
        address = block.get("final-recipient") or block.get("original-recipient") or block.get("x-actual-recipient")
        address = dsn.strip_type(address)
        if not ADDRESS_RE.search(address):
            original = dsn.strip_type(block.get("original-recipient"))
            address = original if ADDRESS_RE.search(original) else address
        if not ADDRESS_RE.search(address) and len(parsed.recipients) == 1 and len(named) == 1:
            # A source route or a bare domain ("@mx.example.org") in
            # Final-Recipient: the human-readable part names the address.
            address = named[0]
        if not address:
            continue
        # The human-readable part (RFC 3462 § 2, first part) often says
        # more than a bare Status: use it when Diagnostic-Code is absent.
        own_text = texts.get(address.lower(), notice) if address.lower() in notice.lower() else ""
        diagnostic = dsn.strip_type(block.get("diagnostic-code")) or own_text
        status, reply = _codes(diagnostic, parse_dsn_status(block.get("status")), "")
        stated = block.get("action").lower().split()[0] if block.get("action") else ""
        stated = stated if stated in _ACTIONS else ""
        klass = _status_class(status, reply, stated == "delayed")
        # Without an Action field the class says how to read the report.
        action = stated or {"2": "delivered", "4": "delayed"}.get(klass[0], "failed")
        remote = dsn.strip_type(block.get("remote-mta")) or None
        kind = dsn.type_of(block.get("diagnostic-code"))
        # A report about several recipients says why for each in its own
        # lines: reading the whole notice would lend one recipient's cause
        # to another (Exim: "550 hard error" beside "local delivery failed").
        context = own_text if own_text and len(parsed.recipients) > 1 else notice
        out.append(
            _recipient(address, action, klass, reply, diagnostic, remote, context, own_text, kind, stated, lhost)
        )
    return out


def _diagnostic(block: str) -> str:
    """Take the block's paragraphs until one carries an SMTP code (at most five)."""
    taken: list[str] = []
    for paragraph in re.split(r"\n\s*\n", block.strip()):
        taken.append(paragraph)
        if find_reply_code(paragraph) or find_status(paragraph) or len(taken) >= 5:
            break
    return "\n".join(taken)


def _from_text(msg: Message, notice: str, quoted: str, lhost: str = "") -> list[BounceRecipient]:
    recipients = textbounce.find_recipients(msg, notice, quoted)
    delayed = textbounce.is_delay(msg, notice)
    out: list[BounceRecipient] = []
    for block in textbounce.blocks(notice, recipients):
        diagnostic = _diagnostic(block.text)
        status, reply = _codes(diagnostic, None, notice if len(recipients) == 1 else block.text)
        klass = _status_class(status, reply, delayed)
        action = "delayed" if delayed and klass.startswith("4") else "failed"
        remote_match = _REMOTE_RE.search(block.text) or _REMOTE_RE.search(notice)
        remote = remote_match.group(1) if remote_match else None
        out.append(
            _recipient(block.recipient, action, klass, reply, diagnostic, remote, notice, block.text, lhost=lhost)
        )
    return out


def classify(msg: Message) -> Report | None:
    """Classify a parsed message tree; see ``bridge.bounces.classify``."""
    decoded: dict[int, str] = {}
    body = "\n".join(report_texts(msg, decoded))
    if precheck.cannot_be_report(msg, body, decoded):
        # Ordinary mail (nearly all of it): no later check could fire.
        return None
    complaint = arf.parse(msg)
    notice, quoted = textbounce.split_notice(body)
    if complaint is not None:
        return Report(
            kind=Kind.COMPLAINT,
            recipients=tuple(_complainant(a) for a in complaint.recipients),
            reporting_mta=complaint.reporting_mta,
            original_message_id=complaint.original_message_id,
            feedback_type=complaint.feedback_type,
        )
    ses = sesjson.parse(body) if "notificationType" in body or "eventType" in body else None
    if ses is not None:
        return _from_ses(ses)
    parsed = dsn.find_dsn(msg)
    # Exim's and qmail's own message tables apply to their own reports only.
    lhost = lhosts.identify(notice, header(msg, "x-failed-recipients"))
    recipients: list[BounceRecipient] = []
    reporting: str | None = None
    if parsed is not None:
        recipients = _from_dsn(parsed, notice, textbounce.find_recipients(msg, notice, quoted), lhost)
        reporting = dsn.strip_type(parsed.message_fields.get("reporting-mta", "")) or None
    if not recipients:
        looks = textbounce.looks_like_bounce(msg, notice)
        recipients = _from_text(msg, notice, quoted, lhost) if looks else []
        # A report wrapped whole in message/rfc822 (a scanner or gateway
        # re-sending it) has no words of its own: its headers say report,
        # the DSN inside says who failed.
        wrapped = looks or textbounce.envelope_says_report(msg)
        nested = dsn.find_nested_dsn(msg) if wrapped and not recipients else None
        if nested is not None:
            recipients = _from_dsn(nested, notice, lhost=lhost)
    if recipients:
        recipients = families.apply(families.identify(msg, notice, parsed), notice, recipients)
        failed = any(r.action in ("failed", "delayed") for r in recipients)
        return Report(
            kind=Kind.BOUNCE if failed else Kind.DELIVERED,
            recipients=tuple(recipients),
            reporting_mta=reporting,
            original_message_id=original_message_id(msg, quoted),
        )
    if autoreply.is_autoreply(msg):
        responder = autoreply.responder(msg)
        return Report(
            kind=Kind.AUTOREPLY,
            recipients=(_complainant(responder, Reason.VACATION),) if responder else (),
            original_message_id=None,
        )
    return None


def _complainant(address: str, reason: Reason = Reason.FEEDBACK) -> BounceRecipient:
    """A recipient entry for complaints and auto-replies: no codes, no failure."""
    return BounceRecipient(
        recipient=_normalise(address),
        action="",
        status="",
        reply_code=None,
        diagnostic="",
        remote_mta=None,
        reason=reason,
        hard=False,
    )


def _from_ses(notice: sesjson.SesNotice) -> Report:
    if notice.kind == "complaint":
        return Report(
            kind=Kind.COMPLAINT,
            recipients=tuple(_complainant(e.address) for e in notice.entries),
            original_message_id=notice.message_id,
            feedback_type=notice.feedback_type,
        )
    recipients = []
    for entry in notice.entries:
        status, reply = _codes(entry.diagnostic, parse_dsn_status(entry.status), "")
        klass = _status_class(status, reply, entry.action == "delayed")
        recipients.append(
            _recipient(
                entry.address, entry.action, klass, reply, entry.diagnostic, entry.remote_mta, "", stated=entry.action
            )
        )
    return Report(
        kind=Kind.BOUNCE if notice.kind == "bounce" else Kind.DELIVERED,
        recipients=tuple(recipients),
        reporting_mta=notice.reporting_mta,
        original_message_id=notice.message_id,
    )
