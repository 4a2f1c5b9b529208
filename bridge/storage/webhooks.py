"""Webhook subscriptions, deliveries and their attempt logs.

Subscriptions live in one hash (fan-out reads them all with one HGETALL);
their signing secrets are sealed by the Vault, bound to ``webhook:<id>:secret``.
A delivery (one event to one subscription) is written before any attempt is
made, together with the exact body bytes and an entry in the due set, so a
crash of whichever process should attempt it never loses it: the sweeper
takes over any pending delivery whose due time plus grace has passed.
Records expire after the retention time; listings keep the newest
``MAX_LISTED`` per subscription, and a finished delivery that falls out of
its listing is deleted with it, so the records are bounded by count as well.

Bodies do not grow with mail volume (issue 14). The body is the account's event
stream entry with its id added, so Redis keeps one copy, shared by the event's
deliveries, only while one of them is pending: a delivery that is delivered or
fails for good lets go of it, and the last one deletes it. Why a copy at all
rather than always reading the stream: the stream is bounded by bytes and age
(``BRIDGE_EVENT_RETENTION``), and a burst or a receiver that is down for a day
of retries could see it trimmed before the delivery succeeds; at-least-once
must not depend on how busy the account is. A redelivery (``reopen``) of a
delivery that let go reads the event from the stream; when the stream has
trimmed it, ``reopen`` answers ``410 eventTrimmed`` (and an attempt that finds
it gone meanwhile fails with that reason): the event is past the resume
horizon for webhooks as for the WebSocket stream.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import redis
import redis.exceptions

from bridge import keys
from bridge.crypto import Vault
from bridge.errors import Gone, NotFound
from bridge.storage import webhook_records as records
from bridge.storage.base import redis_errors, text, utc_now
from bridge.storage.metrics import MetricsStore
from bridge.storage.sweeper import SweepChain
from bridge.webhooks.delivery import Attempt, Claim, Delivery, DeliveryStatus, SealedSecret, Subscription
from bridge.webhooks.signing import generate_secret

DEFAULT_RETENTION_S = 3 * 24 * 3600  # longer than the ~1 day retry span, so a redelivery stays possible
ROTATION_OVERLAP_S = 24 * 3600  # the old secret keeps signing this long after a rotation
MAX_LISTED = 10_000  # deliveries kept per subscription; older finished ones are deleted, pending ones expire
MAX_ATTEMPTS_LOGGED = 50  # per delivery, newest kept (redeliveries can add many)


class WebhookStore:
    def __init__(self, client: redis.Redis, vault: Vault, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.redis = client
        self._vault = vault
        self.retention_s = retention_s
        self._claim = client.register_script(records.CLAIM)
        self.sweeper = SweepChain(client, keys.deliveries_due(), keys.delivery_sweeper())
        self._record = client.register_script(records.RECORD)

    # -- subscriptions ---------------------------------------------------------

    @redis_errors
    def create(self, url: str, events: tuple[str, ...] | None, account: str | None) -> tuple[Subscription, str]:
        """Store a new subscription. Returns it and its secret, which is shown only once."""
        webhook_id = "wh_" + secrets.token_hex(8)
        secret = generate_secret()
        sub = Subscription(webhook_id, url, events, account, utc_now(), (self._seal(webhook_id, secret, None),))
        self.redis.hset(keys.webhooks(), webhook_id, records.encode(sub))
        return sub, secret

    @redis_errors
    def get(self, webhook_id: str) -> Subscription:
        """Raises: NotFound (code webhookNotFound)."""
        raw = self.redis.hget(keys.webhooks(), webhook_id)
        if raw is None:
            raise NotFound(f"no webhook {webhook_id!r}", code="webhookNotFound")
        return records.decode(json.loads(raw))

    @redis_errors
    def all(self) -> list[Subscription]:
        subs = [records.decode(json.loads(v)) for v in self.redis.hgetall(keys.webhooks()).values()]
        return sorted(subs, key=lambda s: (s.created, s.id))

    @redis_errors
    def delete(self, webhook_id: str) -> None:
        """Raises: NotFound. Pending deliveries fail at their next attempt; records expire."""
        if not self.redis.hdel(keys.webhooks(), webhook_id):
            raise NotFound(f"no webhook {webhook_id!r}", code="webhookNotFound")
        self.redis.delete(keys.webhook_deliveries(webhook_id))

    @redis_errors
    def rotate(self, webhook_id: str, now: float, overlap_s: float = ROTATION_OVERLAP_S) -> tuple[Subscription, str]:
        """Add a new current secret; older ones keep signing until ``now + overlap_s``."""
        sub = self.get(webhook_id)
        secret = generate_secret()
        kept = tuple(
            s if s.expires is not None else replace(s, expires=now + overlap_s)
            for s in sub.secrets
            if s.expires is None or s.expires > now
        )
        rotated = replace(sub, secrets=(*kept, self._seal(webhook_id, secret, None)))
        self.redis.hset(keys.webhooks(), webhook_id, records.encode(rotated))
        return rotated, secret

    def active_secrets(self, sub: Subscription, now: float) -> list[str]:
        """The plaintext secrets that sign at ``now``, oldest first."""
        context = records.secret_context(sub.id)
        return [self._vault.decrypt(s.sealed, context) for s in sub.secrets if s.expires is None or s.expires > now]

    def _seal(self, webhook_id: str, secret: str, expires: float | None) -> SealedSecret:
        return SealedSecret(self._vault.encrypt(secret, records.secret_context(webhook_id)), utc_now(), expires)

    # -- fan-out and attempts ------------------------------------------------------

    @redis_errors
    def claim(self, delivery_id: str, expected_attempt: int, lease_s: float) -> Claim | str:
        """Take the lease for the next attempt. Returns a Claim, or why not.

        The reason is ``missing`` (expired), ``done`` (no longer pending), ``stale``
        (``expected_attempt`` was made already) or ``busy`` (another process holds it).
        """
        found = cast(
            list[Any],
            self._claim(
                keys=[keys.delivery(delivery_id), keys.delivery_lease(delivery_id), keys.webhooks()],
                args=[expected_attempt, int(lease_s * 1000), *keys.events("\0").split("\0")],
            ),
        )
        if text(found[0]) != "ok":
            return text(found[0])
        flat = [text(x) for x in found[1]]
        fields = dict(zip(flat[0::2], flat[1::2], strict=True))
        body = found[2] if len(found) > 2 else None
        raw_sub = found[3] if len(found) > 3 else None
        return Claim(
            records.delivery(fields),
            bytes(body) if body is not None else None,
            records.decode(json.loads(raw_sub)) if raw_sub is not None else None,
        )

    @redis_errors
    def record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        status: DeliveryStatus,
        grace: float,
        also: Callable[[redis.client.Pipeline], None] | None = None,
    ) -> Delivery:
        """Log an attempt, update the delivery, release its lease; returns the new state.

        ``also`` queues best-effort commands (the attempt's metrics, ``MetricsStore.webhook_attempt_into``)
        that go in the same round trip, after the record; their errors are logged, not raised.
        """
        updated = replace(
            delivery,
            status=status,
            attempts=attempt.attempt,
            next_attempt_at=attempt.next_attempt_at,
            last_status=attempt.status_code,
            last_error=attempt.error,
        )
        pending = status is DeliveryStatus.PENDING and attempt.next_attempt_at is not None
        fields = records.delivery_fields(updated)
        names = [
            keys.delivery(delivery.id),
            keys.delivery_attempts(delivery.id),
            keys.deliveries_due(),
            keys.delivery_lease(delivery.id),
        ]
        args = [
            fields["status"], fields["attempts"], fields["nextAt"], fields["lastStatus"], fields["lastError"],
            json.dumps(records.attempt_doc(attempt)), MAX_ATTEMPTS_LOGGED, self.retention_s,
            attempt.next_attempt_at + grace if pending and attempt.next_attempt_at is not None else "",
            delivery.id,
        ]  # fmt: skip
        if also is None:
            self._record(keys=names, args=args)
            return updated
        # EVALSHA by hand, not the Script on the pipeline: that would ask SCRIPT EXISTS first, a
        # round trip of its own. No MULTI: the record is one script, atomic by itself.
        pipe = self.redis.pipeline(transaction=False)
        pipe.evalsha(self._record.sha, len(names), *names, *args)
        also(pipe)
        recorded, *rest = pipe.execute(raise_on_error=False)
        if isinstance(recorded, redis.exceptions.NoScriptError):  # Redis restarted or flushed its scripts
            self._record(keys=names, args=args)
        elif isinstance(recorded, Exception):
            raise recorded
        MetricsStore.not_counted(rest, "a webhook attempt")
        return updated

    @redis_errors
    def reopen(self, webhook_id: str, delivery_id: str, now: float, grace: float) -> Delivery:
        """Start a new round of attempts (redelivery). Raises: NotFound."""
        current = self.get_delivery(webhook_id, delivery_id)
        if not self.event_available(current):
            raise Gone(
                f"event {current.event_id} of delivery {delivery_id!r} is no longer in the account's event stream "
                "(BRIDGE_EVENT_RETENTION) and, once delivered, a delivery keeps no copy: it cannot be sent again",
                code="eventTrimmed",
            )
        reopened = replace(current, status=DeliveryStatus.PENDING, round_start=current.attempts, next_attempt_at=now)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.delivery(delivery_id), mapping=records.delivery_fields(reopened))
        pipe.zadd(keys.deliveries_due(), {delivery_id: now + grace})
        pipe.execute()
        return reopened

    @redis_errors
    def event_available(self, delivery: Delivery) -> bool:
        """Whether the delivery's body can still be had: the shared copy, or the event stream entry."""
        body_key = self.redis.hget(keys.delivery(delivery.id), "bodyKey")
        if body_key and self.redis.exists(text(body_key)):
            return True
        entry = f"{delivery.seq}-1"
        return bool(self.redis.xrange(keys.events(delivery.account), entry, entry))

    # -- reading deliveries ----------------------------------------------------------

    @redis_errors
    def get_delivery(self, webhook_id: str, delivery_id: str) -> Delivery:
        """Raises: NotFound (code deliveryNotFound) when absent or another webhook's."""
        fields = {text(k): text(v) for k, v in self.redis.hgetall(keys.delivery(delivery_id)).items()}
        if not fields or fields.get("webhook") != webhook_id:
            raise NotFound(f"no delivery {delivery_id!r} for webhook {webhook_id!r}", code="deliveryNotFound")
        return records.delivery(fields)

    @redis_errors
    def attempts(self, delivery_id: str) -> list[Attempt]:
        """A delivery's logged attempts, newest first."""
        return [
            records.attempt(json.loads(raw)) for raw in self.redis.lrange(keys.delivery_attempts(delivery_id), 0, -1)
        ]

    @redis_errors
    def page(
        self, webhook_id: str, *, limit: int, before_seq: int | None = None
    ) -> tuple[list[tuple[Delivery, list[Attempt]]], int | None]:
        """Deliveries newest first with their attempts; returns the next cursor (a seq) or None."""
        index = keys.webhook_deliveries(webhook_id)
        top = "+inf" if before_seq is None else f"({before_seq}"
        found = self.redis.zrevrangebyscore(index, top, "-inf", start=0, num=limit + 1, withscores=True)
        entries = [(text(m), int(s)) for m, s in cast(list[tuple[Any, float]], found)]
        pipe = self.redis.pipeline(transaction=False)
        for delivery_id, _ in entries[:limit]:
            pipe.hgetall(keys.delivery(delivery_id))
            pipe.lrange(keys.delivery_attempts(delivery_id), 0, -1)
        replies = pipe.execute()
        out: list[tuple[Delivery, list[Attempt]]] = []
        for i, (delivery_id, _) in enumerate(entries[:limit]):
            fields, log = replies[2 * i], replies[2 * i + 1]
            if not fields:
                self.redis.zrem(index, delivery_id)  # expired record: drop it from the listing
                continue
            out.append(
                (
                    records.delivery({text(k): text(v) for k, v in fields.items()}),
                    [records.attempt(json.loads(raw)) for raw in log],
                )
            )
        more = len(entries) > limit
        return out, entries[limit - 1][1] if more else None

    # -- sweeping ------------------------------------------------------------------

    @redis_errors
    def overdue(self, now: float, grace: float, limit: int = 500) -> list[tuple[str, int]]:
        """Pending deliveries nobody attempted in time, as (id, next attempt number).

        Each one's due time moves to ``now + grace``, so the next sweep leaves
        it to the attempt scheduled now.
        """
        due = keys.deliveries_due()
        ids = [text(i) for i in self.redis.zrangebyscore(due, "-inf", now, start=0, num=limit)]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for delivery_id in ids:
            pipe.hmget(keys.delivery(delivery_id), ["status", "attempts"])
        states = pipe.execute()
        out: list[tuple[str, int]] = []
        pipe = self.redis.pipeline(transaction=False)
        for delivery_id, (status, attempts) in zip(ids, states, strict=True):
            if status is None or text(status) != DeliveryStatus.PENDING.value:
                pipe.zrem(due, delivery_id)
                continue
            pipe.zadd(due, {delivery_id: now + grace})
            out.append((delivery_id, int(text(attempts)) + 1))
        pipe.execute()
        return out

    @redis_errors
    def pending_count(self) -> int:
        return int(self.redis.zcard(keys.deliveries_due()))


@redis_errors
def pending_deliveries(client: redis.Redis) -> int:
    """How many deliveries are pending, without a Vault (a worker's cheap startup check)."""
    return int(client.zcard(keys.deliveries_due()))
