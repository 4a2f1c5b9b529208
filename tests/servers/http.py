"""A recording HTTP server (webhook receiver) for tests and benchmarks.

Owns a ThreadingHTTPServer on a free loopback port, the recorded requests and
scripted answers (status, delay, down). No pytest imports: bench/ reuses it.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received. Header names are lower-cased (RFC 9110 § 5.1)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.time(), comparable with signed timestamps
    monotonic: float  # time.monotonic(), for measuring retry intervals
    status: int | None  # what we answered; None if the receiver went down first

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class _Answer:
    status: int
    body: bytes
    remaining: int | None  # None: until recover()


@dataclass(slots=True)
class _State:
    answers: list[_Answer] = field(default_factory=list)
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # handler threads must never keep the test process alive
    receiver: HttpReceiver

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real webhook endpoints do
    # Small request/response pairs otherwise wait ~40 ms for delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.receiver._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.receiver._track(self.connection, add=False)
        super().finish()

    def _serve(self) -> None:
        self.server.receiver._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one stderr line per request is noise in test output

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class HttpReceiver:
    """Records every request; answers 200 unless told otherwise."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self._requests: list[RecordedRequest] = []
        self._state = _State()
        self._cond = threading.Condition()
        self._conns: set[socket.socket] = set()
        self._down = threading.Event()  # interrupts delays when going down
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Listen (again). The first start picks a free port; later ones reuse it."""
        if self._server is not None:
            return
        self._down.clear()
        server = _Server((HOST, self.port), _Handler)  # allow_reuse_address is on
        server.receiver = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Go down: close the listener and every open keep-alive connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._down.set()
        server.shutdown()
        server.server_close()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            # Without this, pooled client connections would still be served.
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    down, up, close = stop, start, stop

    # -- scripting ---------------------------------------------------------

    def respond(self, status: int, times: int = 1, body: bytes = b"") -> None:
        """Answer the next `times` requests with `status` (queued after earlier scripts)."""
        with self._cond:
            self._state.answers.append(_Answer(status, body, times))

    def respond_always(self, status: int, body: bytes = b"") -> None:
        """Answer every request with `status` until `recover()`."""
        with self._cond:
            self._state.answers = [_Answer(status, body, None)]

    def delay(self, seconds: float) -> None:
        """Wait `seconds` before answering each request (0 to stop)."""
        with self._cond:
            self._state.delay = seconds

    def recover(self) -> None:
        """Answer 200 at once again."""
        with self._cond:
            self._state = _State()

    def clear(self) -> None:
        """Forget requests and scripts (between tests)."""
        with self._cond:
            self._requests.clear()
            self._state = _State()

    # -- inspection --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least `n` requests were answered (or dropped); return them all.

        Raises:
            TimeoutError: fewer than `n` arrived within `timeout` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"HTTP receiver got {len(self._requests)} of {n} requests in {timeout} s")
            return list(self._requests)

    # -- request handling (handler threads) --------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _next_answer(self) -> tuple[int, bytes, float]:
        with self._cond:
            state = self._state
            if not state.answers:
                return 200, b"", state.delay
            answer = state.answers[0]
            if answer.remaining is not None:
                answer.remaining -= 1
                if answer.remaining <= 0:
                    state.answers.pop(0)
            return answer.status, answer.body, state.delay

    def _handle(self, h: _Handler) -> None:
        wall, mono = time.time(), time.monotonic()
        body = h.read_body()
        status, reply, delay = self._next_answer()
        answered: int | None = None
        try:
            if delay and self._down.wait(delay):
                h.close_connection = True
                return
            h.send_response(status)
            h.send_header("Content-Length", str(len(reply)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(reply)
            h.wfile.flush()
            answered = status
        except OSError:
            h.close_connection = True  # the receiver went down mid-answer
        finally:
            headers: dict[str, str] = {}
            for name, value in h.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            request = RecordedRequest(h.command, h.path, headers, body, wall, mono, answered)
            with self._cond:
                self._requests.append(request)
                self._cond.notify_all()
