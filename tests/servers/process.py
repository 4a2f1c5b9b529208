"""What the test servers share: free loopback ports.

Child servers die with pytest through ``bridge.runtime.embedded_redis.dies_with_parent``.
"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])
