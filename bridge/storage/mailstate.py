"""Watcher state: folder checkpoints (UIDVALIDITY + last UID) and account leases.

Checkpoints make catch-up exact: after any restart the watcher fetches only
UIDs above the last processed one. Leases share accounts between watcher
processes: a lease is a key with an expiry holding the owner's id, renewed
while the owner lives; when a watcher dies its leases expire and another
watcher takes the accounts over.
"""

from __future__ import annotations

import redis

from bridge import keys
from bridge.storage.base import redis_errors, text

# Renew only if we still own it; release only what we own.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# The UIDVALIDITY of a checkpoint no SELECT has confirmed yet (set_attach_checkpoint).
UNCONFIRMED = 0


class MailStateStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @redis_errors
    def checkpoint(self, account: str, folder: str) -> tuple[int, int] | None:
        """(uidvalidity, last processed uid), or None for a folder never seen."""
        raw = self.redis.hmget(keys.folder_checkpoint(account, folder), ["uidvalidity", "last_uid"])
        if raw[0] is None or raw[1] is None:
            return None
        return int(text(raw[0])), int(text(raw[1]))

    @redis_errors
    def set_checkpoint(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.redis.hset(
            keys.folder_checkpoint(account, folder), mapping={"uidvalidity": uidvalidity, "last_uid": last_uid}
        )

    @redis_errors
    def set_attach_checkpoint(self, account: str, folder: str, last_uid: int) -> None:
        """The baseline taken when an account is attached: UIDNEXT - 1 from STATUS, without its UIDVALIDITY.

        Stored with UIDVALIDITY 0 (no real one is: RFC 3501 ``nz-number``): the watcher's
        first SELECT supplies it (``bridge.imap.watcher``). A server may report another
        UIDVALIDITY on STATUS than on SELECT before a folder was first selected (Courier does,
        each call); taking STATUS's would read as a reset and skip what came in between.
        """
        self.set_checkpoint(account, folder, UNCONFIRMED, last_uid)

    @redis_errors
    def forget_account(self, account: str, folders: list[str]) -> None:
        if folders:
            self.redis.delete(*[keys.folder_checkpoint(account, f) for f in folders])

    @redis_errors
    def mark_emitted(self, account: str, marks: list[tuple[str, int]], ttl_s: int) -> None:
        """Mark messages (id, index score) emitted in one step; ``bridge.storage.publish`` does it with an event.

        The marks are the account's message index (``keys.message_index``): one sorted set,
        trimmed to ``ttl_s`` by score and expiring with its newest member, rather than a key
        per message (~100 bytes each).
        """
        if not marks:
            return
        key = keys.message_index(account)
        newest = max(score for _, score in marks)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(key, {message_id: score for message_id, score in marks})
        pipe.zremrangebyscore(key, "-inf", f"({newest - ttl_s * 1_000_000}")
        pipe.expire(key, ttl_s)
        pipe.execute()

    @redis_errors
    def emitted(self, account: str, message_ids: list[str]) -> set[str]:
        """Which of ``message_ids`` were emitted, in one round trip."""
        if not message_ids:
            return set()
        scores = self.redis.zmscore(keys.message_index(account), message_ids)
        return {m for m, score in zip(message_ids, scores, strict=True) if score is not None}

    # --- leases ---------------------------------------------------------------

    @redis_errors
    def claim(self, account: str, owner: str, ttl_ms: int) -> bool:
        """Take the account if nobody holds it (or we already do)."""
        if self.redis.set(keys.account_lease(account), owner, nx=True, px=ttl_ms):
            return True
        return bool(self._renew(keys=[keys.account_lease(account)], args=[owner, ttl_ms]))

    @redis_errors
    def renew(self, account: str, owner: str, ttl_ms: int) -> bool:
        """Extend our lease; False means we lost it."""
        return bool(self._renew(keys=[keys.account_lease(account)], args=[owner, ttl_ms]))

    @redis_errors
    def release(self, account: str, owner: str) -> None:
        self._release(keys=[keys.account_lease(account)], args=[owner])

    @redis_errors
    def owner(self, account: str) -> str | None:
        found = self.redis.get(keys.account_lease(account))
        return text(found) if found is not None else None
