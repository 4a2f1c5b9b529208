"""What the test servers share: free loopback ports and child processes that die with pytest."""

from __future__ import annotations

import shutil
import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pdeathsig_prefix() -> list[str]:
    """Command prefix that has the kernel SIGTERM the child when the test process dies.

    setpriv covers deaths that skip atexit (SIGKILL, OOM), so no stray server survives.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
