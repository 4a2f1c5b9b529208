"""Heartbeats of the long-running processes (watchers, workers)."""

from __future__ import annotations

import time

import redis

from bridge import keys
from bridge.storage.base import redis_errors, text


class ProcessStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @redis_errors
    def beat(self, role: str, process_id: str) -> None:
        """Record that a process of a role (watcher, worker) is alive."""
        self.redis.hset(keys.heartbeat(role), process_id, str(time.time()))

    @redis_errors
    def live(self, role: str, max_age_s: float) -> list[str]:
        """Processes of a role that beat within max_age_s; prunes the dead ones."""
        now = time.time()
        alive: list[str] = []
        dead: list[str] = []
        for pid, ts in self.redis.hgetall(keys.heartbeat(role)).items():
            (alive if now - float(ts) <= max_age_s else dead).append(text(pid))
        if dead:
            self.redis.hdel(keys.heartbeat(role), *dead)
        return sorted(alive)
