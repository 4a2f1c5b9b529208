"""The per-message index entry: what Redis keeps of a message the bridge has seen.

The IMAP server is the source of truth (issue 14): bodies, sources and attachments
are fetched from it when asked. Redis keeps only this entry per message, a few
hundred bytes: where the message is (folder, UIDVALIDITY, UID, hence its id),
its header Message-ID and conversation, flags, size, when it came, who really
sent it (a compact authentication verdict), what it is (bounce, complaint …)
and what the policy decided. ``Entry`` owns its JSON form (``to_json`` /
``from_json``); ``bridge/storage/messages.py`` stores it.

Pure: no Redis calls here.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bridge.mail import ids

# Bounds that keep an entry "a few hundred bytes" whatever the message says.
MAX_SUBJECT = 200
MAX_NAME = 100
MAX_RECIPIENTS = 10
MAX_DKIM_DOMAINS = 4

Direction = Literal["inbound", "sent"]


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


@dataclass(frozen=True, slots=True)
class AuthVerdict:
    """Who really sent the message, compactly: enough for a reader to show the verdict.

    The full report (every DKIM signature, the ARC chain, provider results) is in the
    ``messageNew`` event; this keeps its conclusions.

    Attributes:
        verified: the From domain is authenticated (DMARC pass, or a trusted ARC sealer / receiver vouched).
        verified_via: how (``dmarc``, ``arc``, ``provider`` …), None when not verified.
        from_domain: the RFC 5322 From domain the verdict is about.
        spf, dkim, dmarc, arc: each mechanism's result (``pass``, ``fail``, ``none`` …); ``dkim`` is
            ``pass`` when any signature passed, else the first signature's result.
        dkim_domains: the ``d=`` domains of passing signatures (at most 4).
        arc_sealer: the trusted ARC sealer that vouched, if one did.
    """

    verified: bool
    verified_via: str | None = None
    from_domain: str | None = None
    spf: str | None = None
    dkim: str | None = None
    dkim_domains: tuple[str, ...] = ()
    dmarc: str | None = None
    arc: str | None = None
    arc_sealer: str | None = None

    @classmethod
    def from_report(cls, auth: dict[str, Any] | None) -> AuthVerdict | None:
        """The verdict of a full ``auth`` report (``bridge.inbound.records.auth_json``)."""
        if not auth:
            return None
        dkim = auth.get("dkim") or []
        passing = [d for d in dkim if d.get("result") == "pass"]
        dkim_result = "pass" if passing else (dkim[0].get("result") if dkim else None)
        return cls(
            verified=bool(auth.get("verified")),
            verified_via=auth.get("verifiedVia"),
            from_domain=auth.get("fromDomain"),
            spf=(auth.get("spf") or {}).get("result"),
            dkim=dkim_result,
            dkim_domains=tuple(str(d.get("domain")) for d in passing if d.get("domain"))[:MAX_DKIM_DOMAINS],
            dmarc=(auth.get("dmarc") or {}).get("result"),
            arc=(auth.get("arc") or {}).get("result"),
            arc_sealer=(auth.get("arc") or {}).get("trustedSealer"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "verifiedVia": self.verified_via,
            "fromDomain": self.from_domain,
            "spf": self.spf,
            "dkim": self.dkim,
            "dkimDomains": list(self.dkim_domains),
            "dmarc": self.dmarc,
            "arc": self.arc,
            "arcSealer": self.arc_sealer,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AuthVerdict:
        return cls(
            verified=bool(doc.get("verified")),
            verified_via=doc.get("verifiedVia"),
            from_domain=doc.get("fromDomain"),
            spf=doc.get("spf"),
            dkim=doc.get("dkim"),
            dkim_domains=tuple(doc.get("dkimDomains") or ()),
            dmarc=doc.get("dmarc"),
            arc=doc.get("arc"),
            arc_sealer=doc.get("arcSealer"),
        )


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    address: str
    status: str | None
    hard: bool


@dataclass(frozen=True, slots=True)
class Classification:
    """What the message is when it is not ordinary mail: its kind and, for reports, their essentials.

    Attributes:
        kind: ``bounce``, ``complaint``, ``autoReply`` or ``deliveryReport`` (``bridge.bounces.Kind``).
        original_message_id: the Message-ID of the message a report is about.
        feedback_type: a complaint's RFC 5965 feedback type.
        recipients: the reported recipients (at most 10), with DSN status and whether the failure is hard.
    """

    kind: str
    original_message_id: str | None = None
    feedback_type: str | None = None
    recipients: tuple[BouncedRecipient, ...] = ()

    @classmethod
    def from_report(cls, classification: dict[str, Any] | None) -> Classification | None:
        """The essentials of a full ``classification`` (``bridge.inbound.records.classification_json``)."""
        if not classification or not classification.get("kind"):
            return None
        rcpts = [
            BouncedRecipient(str(r.get("recipient") or ""), r.get("status"), bool(r.get("hard")))
            for r in classification.get("recipients") or []
        ]
        return cls(
            kind=str(classification["kind"]),
            original_message_id=classification.get("originalMessageId"),
            feedback_type=classification.get("feedbackType"),
            recipients=tuple(rcpts[:MAX_RECIPIENTS]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "originalMessageId": self.original_message_id,
            "feedbackType": self.feedback_type,
            "recipients": [{"address": r.address, "status": r.status, "hard": r.hard} for r in self.recipients],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Classification:
        return cls(
            kind=str(doc["kind"]),
            original_message_id=doc.get("originalMessageId"),
            feedback_type=doc.get("feedbackType"),
            recipients=tuple(
                BouncedRecipient(str(r["address"]), r.get("status"), bool(r.get("hard")))
                for r in doc.get("recipients") or []
            ),
        )


PolicyStateName = Literal["pending", "rejected", "approved"]


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What the account's policy decided on an inbound message that it did not simply deliver.

    Attributes:
        state: ``pending`` (held for review), ``rejected`` or ``approved`` (released by a reviewer).
        action: the policy's action, ``hold`` or ``reject``.
        review_id: the review of a held message.
        rule, reason: the rule that decided, and why.
        decision: the verdict's decision name (``bridge.policy.verdict.Decision``).
    """

    state: str
    action: str
    review_id: str | None = None
    rule: str | None = None
    reason: str | None = None
    decision: str | None = None

    @property
    def withheld(self) -> bool:
        """Kept from the agent: held (until approved) or rejected."""
        return self.state != "approved"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "reviewId": self.review_id,
            "state": self.state,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PolicyState:
        return cls(
            state=str(doc["state"]),
            action=str(doc["action"]),
            review_id=doc.get("reviewId"),
            rule=doc.get("rule"),
            reason=doc.get("reason"),
            decision=doc.get("decision"),
        )


@dataclass(frozen=True, slots=True)
class Sender:
    address: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One message the bridge has seen (arrived in a watched folder, or a Sent copy it filed).

    Attributes:
        id: the message id (``bridge.mail.ids``: folder, UIDVALIDITY, UID), as in events.
        account: the account it belongs to.
        folder, uid, uidvalidity: where it is on the server (what ``id`` encodes).
        message_id: the Message-ID header, if it has one.
        conversation_id: the thread it belongs to (``bridge.mail.ids.new_conversation_id``).
        received_at: RFC 3339 UTC with milliseconds: when the bridge saw it (listing and thread order).
        date: its Date header (RFC 3339), if it parsed.
        direction: ``inbound`` (fetched by the watcher) or ``sent`` (the bridge's own Sent copy).
        subject, from_: enough to show the message in a thread without fetching it (subject cut
            at 200 characters).
        flags: IMAP flags as last seen or set by the bridge.
        size: the RFC 822 size in bytes.
        has_attachments: whether it carries attachments.
        auth: who really sent it (None for sent copies and when not verified at all).
        classification: bounce/complaint/auto-reply essentials, None for ordinary mail.
        policy: the policy's decision when it did not simply deliver, else None.
        queue_id: for a Sent copy, the outbox entry it was sent as.
    """

    id: str
    account: str
    folder: str
    uid: int
    uidvalidity: int
    conversation_id: str
    received_at: str
    message_id: str | None = None
    date: str | None = None
    direction: Direction = "inbound"
    subject: str = ""
    from_: Sender | None = None
    flags: tuple[str, ...] = ()
    size: int = 0
    has_attachments: bool = False
    auth: AuthVerdict | None = None
    classification: Classification | None = None
    policy: PolicyState | None = None
    queue_id: str | None = None

    @property
    def withheld(self) -> bool:
        """Policy kept it from the agent (held until approved, or rejected)."""
        return self.policy is not None and self.policy.withheld

    def with_flags(self, flags: list[str] | tuple[str, ...]) -> Entry:
        return replace(self, flags=tuple(flags))

    def with_policy(self, policy: PolicyState | None) -> Entry:
        return replace(self, policy=policy)

    def to_json(self) -> dict[str, Any]:
        """The entry as stored (and as a reader may serve it): camelCase, no nulls dropped."""
        return {
            "id": self.id,
            "account": self.account,
            "folder": self.folder,
            "uid": self.uid,
            "uidValidity": self.uidvalidity,
            "messageId": self.message_id,
            "conversationId": self.conversation_id,
            "receivedAt": self.received_at,
            "date": self.date,
            "direction": self.direction,
            "subject": self.subject,
            "from": {"address": self.from_.address, "name": self.from_.name} if self.from_ else None,
            "flags": list(self.flags),
            "size": self.size,
            "hasAttachments": self.has_attachments,
            "auth": self.auth.to_json() if self.auth else None,
            "classification": self.classification.to_json() if self.classification else None,
            "policy": self.policy.to_json() if self.policy else None,
            "queueId": self.queue_id,
        }

    def dumps(self) -> str:
        """``to_json`` as compact JSON."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)

    def stored(self) -> str:
        """The form Redis keeps (``from_stored`` reads it), about a third of ``to_json``'s bytes.

        Left out: what the key says (the account, and the id with the folder, UIDVALIDITY and
        UID it encodes) and empty values (null, "", [], {}, false, 0; ``from_json`` restores
        them). Field names are shortened (``_SHORT``), ``receivedAt`` is epoch milliseconds and
        ``date`` epoch seconds (when that spells it exactly), the authentication verdict is
        a few letters (``_packed_auth``) when it is about the From address's own domain, ``from``
        is ``[address, name?]``, and a conversation the message started itself is left out
        (``own_conversation`` of its Message-ID gives it back). Entries written before these
        packings (``date`` as text, ``auth`` and ``from`` as objects, ``c`` always) read back too.
        """
        doc = self.to_json()
        del doc["account"], doc["id"]
        if ids.encode(self.folder, self.uidvalidity, self.uid) == self.id:
            del doc["folder"], doc["uid"], doc["uidValidity"]
        if self.direction == "inbound":
            del doc["direction"]
        doc["receivedAt"] = _epoch_ms(self.received_at)
        if self.date is not None and _iso_s(_epoch_s(self.date)) == self.date and _epoch_s(self.date) != 0:
            doc["date"] = _epoch_s(self.date)
        packed = _packed_auth(self.auth, self.from_.address if self.from_ else None)
        if packed is not None:
            doc["auth"] = packed
        if self.conversation_id == own_conversation(self.message_id, self.id):
            del doc["conversationId"]  # it started its own thread: the id follows from its Message-ID
        if self.from_ is not None:
            doc["from"] = [self.from_.address, self.from_.name] if self.from_.name else [self.from_.address]
        return json.dumps(_renamed(_pruned(doc), _SHORT), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_stored(cls, raw: str | bytes, account: str, message_id: str) -> Entry:
        doc: dict[str, Any] = _renamed(json.loads(raw), _LONG)
        doc["account"], doc["id"] = account, message_id
        doc["receivedAt"] = _iso_ms(int(doc.get("receivedAt") or 0))
        if isinstance(doc.get("date"), int):
            doc["date"] = _iso_s(doc["date"])
        if isinstance(doc.get("from"), list):
            address, *name = doc["from"]
            doc["from"] = {"address": address, "name": name[0] if name else ""}
        if isinstance(doc.get("auth"), str):
            sender = doc.get("from") or {}
            doc["auth"] = _unpacked_auth(doc["auth"], str(sender.get("address") or ""))
        if "conversationId" not in doc:
            doc["conversationId"] = own_conversation(doc.get("messageId"), message_id)
        if "folder" not in doc:
            where = ids.decode(message_id)
            doc["folder"], doc["uid"], doc["uidValidity"] = where.folder, where.uid, where.uidvalidity
        return cls.from_json(doc)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Entry:
        sender = doc.get("from")
        return cls(
            id=str(doc["id"]),
            account=str(doc["account"]),
            folder=str(doc["folder"]),
            uid=int(doc["uid"]),
            uidvalidity=int(doc["uidValidity"]),
            message_id=doc.get("messageId"),
            conversation_id=str(doc["conversationId"]),
            received_at=str(doc["receivedAt"]),
            date=doc.get("date"),
            direction="sent" if doc.get("direction") == "sent" else "inbound",
            subject=str(doc.get("subject") or ""),
            from_=Sender(str(sender["address"]), str(sender.get("name") or "")) if sender else None,
            flags=tuple(doc.get("flags") or ()),
            size=int(doc.get("size") or 0),
            has_attachments=bool(doc.get("hasAttachments")),
            auth=AuthVerdict.from_json(doc["auth"]) if doc.get("auth") else None,
            classification=Classification.from_json(doc["classification"]) if doc.get("classification") else None,
            policy=PolicyState.from_json(doc["policy"]) if doc.get("policy") else None,
            queue_id=doc.get("queueId"),
        )

    @classmethod
    def loads(cls, raw: str | bytes) -> Entry:
        doc: dict[str, Any] = json.loads(raw)
        return cls.from_json(doc)


# The stored form's field names (one name space for every level: no two fields share a short name).
_SHORT = {
    "messageId": "m", "conversationId": "c", "receivedAt": "r", "date": "d", "direction": "o", "subject": "s",
    "from": "f", "flags": "g", "size": "z", "hasAttachments": "a", "auth": "v", "classification": "k",
    "policy": "p", "queueId": "q", "folder": "fo", "uid": "u", "uidValidity": "uv",
    "address": "e", "name": "n",
    "verified": "ok", "verifiedVia": "via", "fromDomain": "fd", "spf": "sp", "dkim": "dk", "dkimDomains": "dd",
    "dmarc": "dm", "arc": "ar", "arcSealer": "as",
    "kind": "ki", "originalMessageId": "om", "feedbackType": "ft", "recipients": "rc", "status": "st", "hard": "h",
    "action": "ac", "decision": "de", "rule": "ru", "reason": "re", "reviewId": "ri", "state": "sa",
}  # fmt: skip
_LONG = {short: long for long, short in _SHORT.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {names.get(k, k): _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    return value


def _epoch_ms(value: str) -> int:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _iso_ms(ms: int) -> str:
    """The inverse of ``_epoch_ms`` for the bridge's own times (RFC 3339, milliseconds, Z), exactly."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def own_conversation(message_id: str | None, fallback: str) -> str:
    """The conversation id a message that starts a thread gets (``bridge.inbound.records.new_conversation_id``
    makes it; the same formula here decides when the stored form may leave ``c`` out, an entry whose
    id differs, however made, keeping it, and where ``bridge.storage.messages`` files the message
    as the head of a conversation)."""
    return "conv_" + hashlib.sha256((message_id or fallback).encode()).hexdigest()[:20]


def _epoch_s(value: str) -> int:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(seconds=1)


def _iso_s(seconds: int) -> str:
    """A header date as the record writes it (RFC 3339, seconds, Z)."""
    return (_EPOCH + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


# The authentication verdict packed: one letter per mechanism's result (spf, dkim, dmarc, arc), then
# 1/0 for verified, then, only when set, "|via|dkim domains (comma-separated)|ARC sealer". Used only
# when the verdict is about the From address's own domain and every value fits; else the object form.
_RESULT_LETTER = {
    None: "-", "pass": "p", "fail": "f", "none": "n", "softfail": "s", "neutral": "u", "temperror": "t",
    "permerror": "e", "policy": "o",
}  # fmt: skip
_LETTER_RESULT = {letter: result for result, letter in _RESULT_LETTER.items()}
_PACK_SAFE = re.compile(r"^[^|,]*$")


def _packed_auth(auth: AuthVerdict | None, sender: str | None) -> str | None:
    if auth is None or sender is None or auth.from_domain is None or auth.from_domain != sender.rpartition("@")[2]:
        return None
    results = (auth.spf, auth.dkim, auth.dmarc, auth.arc)
    parts = (auth.verified_via or "", *auth.dkim_domains, auth.arc_sealer or "")
    if any(r not in _RESULT_LETTER for r in results) or not all(_PACK_SAFE.match(p) for p in parts):
        return None
    if "" in auth.dkim_domains:
        return None
    head = "".join(_RESULT_LETTER[r] for r in results) + ("1" if auth.verified else "0")
    if auth.verified_via is None and not auth.dkim_domains and auth.arc_sealer is None:
        return head
    via, domains, sealer = auth.verified_via, ",".join(auth.dkim_domains), auth.arc_sealer
    if via == "" or sealer == "":  # "" is how the packed form spells None: keep such a verdict whole
        return None
    return f"{head}|{via or ''}|{domains}|{sealer or ''}"


def _unpacked_auth(packed: str, sender: str) -> dict[str, Any]:
    head, _, rest = packed.partition("|")
    via, domains, sealer = (rest.split("|") + ["", "", ""])[:3] if rest else ("", "", "")
    spf, dkim, dmarc, arc = (_LETTER_RESULT[letter] for letter in head[:4])
    return AuthVerdict(
        verified=head[4] == "1", verified_via=via or None, from_domain=sender.rpartition("@")[2], spf=spf, dkim=dkim,
        dkim_domains=tuple(domains.split(",")) if domains else (), dmarc=dmarc, arc=arc, arc_sealer=sealer or None,
    ).to_json()  # fmt: skip


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {}, False, 0)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def sender_of(value: dict[str, Any] | None) -> Sender | None:
    """A record's ``from`` ({name, address}) as the entry keeps it (name cut at 100 characters)."""
    if not value or not value.get("address"):
        return None
    return Sender(str(value["address"]), _cut(str(value.get("name") or ""), MAX_NAME) or "")


def subject_of(value: str | None) -> str:
    return _cut(value or "", MAX_SUBJECT) or ""


def from_record(doc: dict[str, Any]) -> Entry:
    """The index entry of a full message record (``bridge.inbound.records.MessageRecord.to_json``)."""
    policy = doc.get("policy")
    return Entry(
        id=str(doc["id"]),
        account=str(doc["account"]),
        folder=str(doc.get("folder") or ""),
        uid=int(doc.get("uid") or 0),
        uidvalidity=int(doc.get("uidValidity") or 0),
        message_id=doc.get("messageId"),
        conversation_id=str(doc["conversationId"]),
        received_at=str(doc["receivedAt"]),
        date=doc.get("date"),
        subject=subject_of(doc.get("subject")),
        from_=sender_of(doc.get("from")),
        flags=tuple(doc.get("flags") or ()),
        size=int(doc.get("size") or 0),
        has_attachments=bool(doc.get("attachments")),
        auth=AuthVerdict.from_report(doc.get("auth")),
        classification=Classification.from_report(doc.get("classification")),
        policy=PolicyState.from_json(policy) if isinstance(policy, dict) and policy.get("state") else None,
    )
