"""How outbox entries look: ``OutboxEntry``, the result types and the field encodings.

``OutboxEntry`` is the one shape of an outbox entry: ``OutboxEntry.queued``
builds every new one (a submission, a held message a reviewer approved), and
``to_json``/``from_json`` are its JSON form (the hash fields, camelCase).
``Reference`` (the replied-to or forwarded message) and ``SendFailure`` (the
last attempt's error) are its typed parts.
Used by ``bridge/storage/outbox.py`` (and ``reviews.py`` for idempotent
holds); split out to keep that module about operations. No Redis calls here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bridge import keys
from bridge.errors import Conflict
from bridge.storage.base import text

_JSON_FIELDS = ("envelope", "lastError", "reference", "sentCopy")
_INT_FIELDS = ("attempts", "maxAttempts")
# Below this many seconds ahead, a sendAt means "now": the scheduler's resolution is one second.
IMMEDIATE_S = 1.0
# How often the outbox sweep runs (SendPolicy's default; an approval that starts a sweep uses it too).
SWEEP_INTERVAL_S = 15.0


@dataclass(frozen=True, slots=True)
class Reference:
    """The message a submission replies to or forwards: where to set \\Answered or $Forwarded once sent.

    ``message`` is its bridge id; ``folder``/``uid``/``uid_validity`` where it was; ``message_id`` its
    Message-ID header (to find it again if the folder's UIDVALIDITY changed).
    """

    message: str
    action: str  # reply, replyAll or forward (``bridge.schemas.submit.ReferenceIn.action``)
    folder: str | None
    uid: int | None
    uid_validity: int | None
    message_id: str | None

    @property
    def forward(self) -> bool:
        return self.action == "forward"

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "action": self.action,
            "folder": self.folder,
            "uid": self.uid,
            "uidValidity": self.uid_validity,
            "messageId": self.message_id,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Reference:
        uid, validity = doc.get("uid"), doc.get("uidValidity")
        return cls(
            message=str(doc.get("message") or ""),
            action=str(doc.get("action") or ""),
            folder=doc.get("folder") or None,
            uid=int(uid) if uid not in (None, "") else None,
            uid_validity=int(validity) if validity not in (None, "") else None,
            message_id=doc.get("messageId") or None,
        )


@dataclass(frozen=True, slots=True)
class SendFailure:
    """Why the last send attempt failed (``lastError``): the error's message and code, the SMTP reply code, when."""

    message: str
    code: str | None
    smtp_code: int | None
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, "smtpCode": self.smtp_code, "at": self.at}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SendFailure:
        smtp_code = doc.get("smtpCode")
        return cls(
            message=str(doc.get("message") or ""),
            code=doc.get("code"),
            smtp_code=int(smtp_code) if smtp_code is not None else None,
            at=str(doc.get("at") or ""),
        )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One submission in the outbox: what to send, and where its state machine stands.

    The first block is fixed when the entry is queued; the rest is written by
    the send worker as the entry moves (``bridge.storage.outbox`` draws the states).
    ``due`` is the epoch second the entry is next looked at (sendAt, a retry, a lease end).
    """

    queue_id: str
    account: str
    state: str
    message_id: str
    subject: str
    envelope_from: str
    envelope_to: tuple[str, ...]
    created: str
    send_at: str
    due: float
    max_attempts: int
    copy: bool
    smtputf8: bool
    conversation_id: str
    reference: Reference | None = None
    job_id: str = ""
    review_id: str | None = None
    attempts: int = 0
    owner: str | None = None
    lease_until: float | None = None
    data_started: bool = False
    possible_duplicate: bool = False
    last_error: SendFailure | None = None
    next_attempt: str | None = None
    response: str | None = None
    sent_at: str | None = None
    cancelled_at: str | None = None
    sent_folder: str | None = None
    flagged: bool = False
    # mailbox_ops.SentCopy.to_json (filed, created or skipped with a reason), recorded as the IMAP side
    # reported it and shown as is by the API: a JSON payload here (the IMAP adapter owns its type).
    sent_copy: dict[str, Any] | None = None
    # Fields this version does not know (written by a newer one): kept so a round trip loses nothing.
    other: dict[str, str] = field(default_factory=dict)

    @classmethod
    def queued(
        cls,
        *,
        queue_id: str,
        account: str,
        message_id: str,
        subject: str,
        envelope_from: str,
        envelope_to: tuple[str, ...] | list[str],
        send_at: datetime | None,
        now: datetime,
        max_attempts: int,
        copy: bool,
        smtputf8: bool,
        conversation_id: str,
        reference: Reference | None,
        job_id: str = "",
        review_id: str | None = None,
    ) -> OutboxEntry:
        """A new entry: ``scheduled`` when ``send_at`` is at least ``IMMEDIATE_S`` ahead, else ``queued``.

        A ``send_at`` in the past means now. ``job_id`` is the RQ job that will send it
        ("" for an entry on the ready list, which a drain job serves).
        """
        start = send_at if send_at is not None and send_at.timestamp() > now.timestamp() else now
        due = start.timestamp()
        return cls(
            queue_id=queue_id,
            account=account,
            state="scheduled" if due - now.timestamp() >= IMMEDIATE_S else "queued",
            message_id=message_id,
            subject=subject,
            envelope_from=envelope_from,
            envelope_to=tuple(envelope_to),
            created=iso(now),
            send_at=iso(start),
            due=due,
            max_attempts=max_attempts,
            copy=copy,
            smtputf8=smtputf8,
            conversation_id=conversation_id,
            reference=reference,
            job_id=job_id,
            review_id=review_id,
        )

    @property
    def scheduled(self) -> bool:
        return self.state == "scheduled"

    @property
    def envelope(self) -> dict[str, Any]:
        return {"from": self.envelope_from, "to": list(self.envelope_to)}

    def to_json(self) -> dict[str, Any]:
        """The JSON form (camelCase, as stored and as ``OutboxEntryOut.of`` reads it); unset lifecycle fields left out."""
        out: dict[str, Any] = {
            "queueId": self.queue_id,
            "account": self.account,
            "state": self.state,
            "messageId": self.message_id,
            "subject": self.subject,
            "envelope": self.envelope,
            "created": self.created,
            "sendAt": self.send_at,
            "due": self.due,
            "attempts": self.attempts,
            "maxAttempts": self.max_attempts,
            "copy": self.copy,
            "smtputf8": self.smtputf8,
            "conversationId": self.conversation_id,
            "reference": self.reference.to_json() if self.reference is not None else None,
            "jobId": self.job_id,
        }
        optional = {
            "reviewId": self.review_id,
            "owner": self.owner,
            "leaseUntil": self.lease_until,
            "lastError": self.last_error.to_json() if self.last_error is not None else None,
            "nextAttempt": self.next_attempt,
            "response": self.response,
            "sentAt": self.sent_at,
            "cancelledAt": self.cancelled_at,
            "sentFolder": self.sent_folder,
            "sentCopy": self.sent_copy,
        }
        out.update({name: value for name, value in optional.items() if value is not None})
        for name, flag in (("dataStarted", self.data_started), ("possibleDuplicate", self.possible_duplicate)):
            if flag:
                out[name] = True
        if self.flagged:
            out["flagged"] = True
        return {**self.other, **out}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> OutboxEntry:
        """Read the JSON form (``decode``'s output or ``to_json``'s); unknown fields are kept in ``other``."""
        envelope = doc.get("envelope") or {}
        lease = doc.get("leaseUntil")
        return cls(
            queue_id=str(doc["queueId"]),
            account=str(doc["account"]),
            state=str(doc["state"]),
            message_id=str(doc.get("messageId") or ""),
            subject=str(doc.get("subject") or ""),
            envelope_from=str(envelope.get("from") or ""),
            envelope_to=tuple(envelope.get("to") or ()),
            created=str(doc.get("created") or ""),
            send_at=str(doc.get("sendAt") or ""),
            due=float(doc.get("due") or 0.0),
            max_attempts=int(doc.get("maxAttempts") or 0),
            copy=_flag(doc.get("copy")),
            smtputf8=_flag(doc.get("smtputf8")),
            conversation_id=str(doc.get("conversationId") or ""),
            reference=Reference.from_json(doc["reference"]) if doc.get("reference") else None,
            job_id=str(doc.get("jobId") or ""),
            review_id=doc.get("reviewId") or None,
            attempts=int(doc.get("attempts") or 0),
            owner=doc.get("owner") or None,
            lease_until=float(lease) if lease not in (None, "") else None,
            data_started=_flag(doc.get("dataStarted")),
            possible_duplicate=_flag(doc.get("possibleDuplicate")),
            last_error=SendFailure.from_json(doc["lastError"]) if doc.get("lastError") else None,
            next_attempt=doc.get("nextAttempt") or None,
            response=doc.get("response") or None,
            sent_at=doc.get("sentAt") or None,
            cancelled_at=doc.get("cancelledAt") or None,
            sent_folder=doc.get("sentFolder") or None,
            flagged=_flag(doc.get("flagged")),
            sent_copy=doc.get("sentCopy") or None,
            other={k: v for k, v in doc.items() if k not in _KNOWN},
        )


_KNOWN = frozenset(
    ("queueId account state messageId subject envelope created sendAt due attempts maxAttempts copy smtputf8 "
     "conversationId reference jobId reviewId owner leaseUntil dataStarted possibleDuplicate lastError "
     "nextAttempt response sentAt cancelledAt sentFolder flagged sentCopy").split()
)  # fmt: skip


def _flag(value: Any) -> bool:
    """Booleans as stored: "1"/"" (``encode``), "0"/"1" (the Lua scripts), or real ones."""
    return value not in (None, "", "0", 0, False)


def iso(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and Z, the form of every outbox time."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of trying to take an entry for sending.

    ``status`` is "ok" (the caller holds the lease; ``entry`` and ``raw`` are set),
    "busy" (another worker does), "early" (not due yet: ``due`` says when),
    "missing", or the entry's final state.
    """

    status: str
    entry: OutboxEntry | None = None
    raw: bytes = b""
    helper: bool = False
    due: float = 0.0


@dataclass(frozen=True, slots=True)
class Created:
    """The outcome of ``create``: the answer to give, and whether a sweep or drain job must be started."""

    answer: dict[str, Any]  # the HTTP answer's JSON: stored with an Idempotency-Key, replayed verbatim
    replayed: bool = False
    start_sweeper: bool = False
    start_drainer: bool = False


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """An Idempotency-Key and the fingerprint of the request body that came with it."""

    account: str
    key: str
    fingerprint: str

    @property
    def redis_key(self) -> str:
        return keys.idempotency(self.account, keys.header_id_hash(self.key))


def claim_of(reply: list[Any]) -> Claim:
    status = text(reply[0])
    if status == "early":
        return Claim(status=status, due=float(text(reply[1])))
    if status != "ok":
        return Claim(status=status)
    fields = reply[2:]
    entry = decode(dict(zip(fields[::2], fields[1::2], strict=True)))
    raw = reply[1] if isinstance(reply[1], bytes) else text(reply[1]).encode()
    return Claim(status="ok", entry=entry, raw=raw, due=entry.due)


def stored_answer(stored: Any, fingerprint: str) -> dict[str, Any] | None:
    """The first answer given for an Idempotency-Key, or None when the key is unused.

    Raises:
        Conflict: the key came with another request body before.
    """
    if stored is None:
        return None
    record = json.loads(stored)
    if record["fingerprint"] != fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body", code="idempotencyKeyReused"
        )
    answer: dict[str, Any] = record["answer"]
    return answer


def encode(fields: dict[str, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for name, value in fields.items():
        if name in _JSON_FIELDS:
            out[name] = json.dumps(value) if value is not None else ""
        elif isinstance(value, bool):
            out[name] = "1" if value else ""
        else:
            out[name] = "" if value is None else str(value)
    return out


def decode(raw: dict[Any, Any]) -> OutboxEntry:
    """The entry a stored hash (``encode``'s fields, or the Lua scripts' writes) holds."""
    doc: dict[str, Any] = {text(k): text(v) for k, v in raw.items()}
    for name in _JSON_FIELDS:
        doc[name] = json.loads(doc[name]) if doc.get(name) else None
    for name in _INT_FIELDS:
        doc[name] = int(doc.get(name) or 0)
    return OutboxEntry.from_json(doc)
