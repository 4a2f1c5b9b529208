"""Errors the server itself answers, through the web role as deployed: gunicorn with gunicorn.conf.py.

gunicorn answers a request line over ``limit_request_line``, oversized
headers and unparsable requests before the app sees them; the repo's worker
class (bridge.api.server) renders those as the API's JSON error body too.
Werkzeug's routing redirects and size limits are checked here over a real
socket as well, since the test client does not decode paths or stream bodies
as gunicorn does.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from bridge.crypto import Vault
from bridge.storage import Storage, connect
from tests.api.conftest import TEST_SECRET
from tests.servers.web import Gunicorn

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def web(redis_server):
    """The web role under gunicorn (one worker, few threads) on a free port; yields the port."""
    server = Gunicorn(redis_server.url, TEST_SECRET, workers=1, threads=4)
    server.start()
    yield server.port
    server.stop()


@pytest.fixture
def token(web, redis_url) -> str:
    storage = Storage(connect(redis_url), Vault(TEST_SECRET))
    try:
        return storage.tokens.create("server tests")[1]
    finally:
        storage.redis.close()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return read_response(sock)


def assert_json_error(response: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got, headers, body = response
    assert got == status, body
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]


def test_request_line_too_long_is_a_json_414(web):
    path = "/v1/" + "a" * 9000
    assert_json_error(exchange(web, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()), 414, "uriTooLong")


def test_header_too_large_is_a_json_431(web):
    request = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    assert_json_error(exchange(web, request), 431, "requestHeaderFieldsTooLarge")


def test_too_many_headers_is_a_json_431(web):
    request = b"GET /health HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + b"\r\n"
    assert_json_error(exchange(web, request), 431, "requestHeaderFieldsTooLarge")


@pytest.mark.parametrize(
    "request_line",
    [b"GARBAGE\r\n\r\n", b"GET /health HTTP/9.9\r\nHost: t\r\n\r\n", b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n"],
    ids=["no method or path", "unknown HTTP version", "header without colon"],
)
def test_unparsable_request_is_a_json_400(web, request_line):
    assert_json_error(exchange(web, request_line), 400, "badRequest")


def test_escaped_dot_dot_slash_is_a_json_404_not_a_redirect(web, token):
    request = f"GET /v1/webhooks/..%2F/deliveries HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n"
    assert_json_error(exchange(web, request.encode()), 404, "notFound")


def test_double_slash_is_a_json_404_not_a_redirect(web, token):
    request = f"GET /v1//accounts HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n"
    assert_json_error(exchange(web, request.encode()), 404, "notFound")


def test_wrong_method_is_a_json_405(web, token):
    request = f"PATCH /v1/accounts HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    response = exchange(web, request.encode())
    assert_json_error(response, 405, "methodNotAllowed")
    assert "POST" in response[1]["allow"]


def test_body_over_the_limit_is_refused_before_it_is_sent(web, token):
    """Content-Length alone earns the 413: the client never sends a byte of the body."""
    head = (
        "POST /v1/accounts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n"
    )
    assert_json_error(exchange(web, head.encode()), 413, "requestEntityTooLarge")


def test_chunked_body_over_the_limit_is_cut_off_with_a_json_413(web, token):
    head = (
        "POST /v1/accounts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"a" * (1024 * 1024)
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    with socket.create_connection(("127.0.0.1", web), timeout=30) as sock:
        sock.sendall(head.encode() + b'1\r\n"\r\n')
        try:
            for _ in range(40):  # 40 MiB, over the 36 MiB limit; the server stops reading at the limit
                sock.sendall(frame)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed while we were still sending
        assert_json_error(read_response(sock), 413, "requestEntityTooLarge")
