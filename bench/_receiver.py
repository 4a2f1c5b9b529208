"""Child process of bench/inbound.py: the tests' HttpReceiver, driven over stdin/stdout.

It runs apart from the bench so its request handling never shares a GIL with
the code being timed. CLOCK_MONOTONIC is system-wide on Linux, so the receive
times it reports compare directly with the parent's ``time.monotonic()``.

Commands (one per line; one JSON line answers each):
    wait N TIMEOUT START   -> [[token, monotonic], ...] of requests START.. once N arrived (or the timeout passed)
    verify SECRET          -> [signed_ok, total]: Standard Webhooks signatures valid when received
    clear                  -> "ok"
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.http import HttpReceiver  # noqa: E402

TOKEN = re.compile(rb"bench-[a-z]+-\d+")


def _token(body: bytes) -> str | None:
    found = TOKEN.search(body)
    return found.group().decode() if found else None


def _verify(receiver: HttpReceiver, secret: str) -> list[int]:
    # Checked as a receiver would at arrival (signature, and the timestamp fresh at
    # received_at); checking after a long run would fail the 5-minute tolerance instead.
    from bridge.webhooks.signing import verify  # imported late: only our product signs

    requests = receiver.requests
    ok = sum(verify(secret, q.headers, q.body, now=q.received_at) for q in requests)
    return [ok, len(requests)]


def main() -> None:
    receiver = HttpReceiver()
    receiver.start()
    print(receiver.port, flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "wait":
            try:
                got = receiver.wait_for(int(cmd[1]), timeout=float(cmd[2]))
            except TimeoutError:
                got = receiver.requests
            answer: object = [[_token(q.body), q.monotonic] for q in got[int(cmd[3]) :]]
        elif cmd[0] == "verify":
            answer = _verify(receiver, cmd[1])
        elif cmd[0] == "clear":
            receiver.clear()
            answer = "ok"
        else:
            answer = f"unknown command {cmd[0]}"
        print(json.dumps(answer), flush=True)
    receiver.stop()


if __name__ == "__main__":
    main()
