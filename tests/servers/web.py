"""The web role as deployed (gunicorn with gunicorn.conf.py) on a free port that stays its own across restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.servers.process import free_port

ROOT = Path(__file__).resolve().parents[2]


class Gunicorn:
    """The web role on a fixed port, stopped and started again by the test."""

    def __init__(self, redis_url: str, secret: str, *, workers: int = 1, threads: int = 8) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "BRIDGE_REDIS_URL": redis_url,
            "BRIDGE_SECRET": secret,
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_PORT": str(self.port),
            "BRIDGE_WEB_WORKERS": str(workers),
            "BRIDGE_WEB_THREADS": str(threads),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # never leave a gunicorn behind a failed start
            raise

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, "gunicorn exited"
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer /health"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
