"""Read everything a Redis holds, to prove that no secret (or no mail content) is stored in it."""

from __future__ import annotations

from collections.abc import Iterator

import redis


def every_key_and_value(client: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) for every value of every key, whatever its type; the key itself comes as (key, key)."""
    for key in client.scan_iter("*"):
        yield key, key
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "stream":  # DUMP would compress them: read the entries' fields
            values = [b for _, fields in client.xrange(key) for kv in fields.items() for b in kv]
        else:
            values = [repr(client.dump(key)).encode()]
        for value in values:
            yield key, value


def assert_nowhere(client: redis.Redis, secrets: list[str]) -> int:
    """Fail if any secret appears in a key or value; return how many values were read."""
    needles = [s.encode() for s in secrets if s]
    seen = 0
    for key, value in every_key_and_value(client):
        seen += 1
        for needle in needles:
            assert needle not in value, f"a secret is stored in plaintext under {key!r}"
    return seen
