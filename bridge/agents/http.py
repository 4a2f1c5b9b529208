"""``/mcp`` on the web role: the SDK's streamable-HTTP transport inside the WSGI app.

The web role is gunicorn's gthread worker running Flask (WSGI); the SDK's transport is an ASGI
app. ``McpMount`` wraps the Flask app's ``wsgi_app``: ``/mcp`` goes through a2wsgi's
``ASGIMiddleware`` to the SDK's ``StreamableHTTPASGIApp``, everything else to Flask as before.

Why this shape:
- a2wsgi runs the ASGI app on one asyncio loop (a daemon thread per worker process) and blocks
  the calling gunicorn thread until the answer is complete, so the worker class, its threads, its
  timeouts and the JSON error bodies of the server itself stay as they are. The alternative, a
  second (uvicorn) server on another port, would be a fourth role to deploy and proxy.
- The session manager is *stateless* with JSON answers: each POST is a complete exchange. The web
  role runs several processes behind SO_REUSEPORT, so a client's next connection may reach
  another process, where an in-memory MCP session would not exist. Nothing an MCP tool does here
  needs server-to-client requests or a standalone SSE stream, and ``wait_for_messages`` is an
  ordinary (long) request.
- The loop is started lazily, in the process that serves the first ``/mcp`` request: gunicorn
  loads the app in each worker, but a loop thread must never cross a fork.

The bearer token is checked here first (401 with the API's error body, before the SDK sees the
request) and checked again, with the route's scope, by every REST call a tool makes.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from bridge.agents.rest import InProcessApi, bearer

if TYPE_CHECKING:
    from flask import Flask

    from bridge.storage import Storage

MCP_PATH = "/mcp"
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class McpMount:
    """WSGI middleware: ``/mcp`` to the MCP server, every other path to ``inner``."""

    def __init__(self, app: Flask, storage: Storage, base_url: str) -> None:
        self.inner: WsgiApp = app.wsgi_app
        self.app = app
        self.storage = storage
        self.base_url = base_url
        self._lock = threading.Lock()
        self._bridge: WsgiApp | None = None
        self._pid = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") != MCP_PATH:
            return self.inner(environ, start_response)
        token = bearer(environ.get("HTTP_AUTHORIZATION"))
        if token is None or self.storage.tokens.authenticate(token) is None:
            message = (
                "the API token is not valid"
                if token
                else "an API token is required: send 'Authorization: Bearer <token>'"
            )
            body = json.dumps({"error": {"code": "unauthorized", "message": message, "details": None}}).encode()
            start_response(
                "401 UNAUTHORIZED",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("WWW-Authenticate", "Bearer"),
                ],
            )
            return [body]
        return self._asgi()(environ, start_response)

    def _asgi(self) -> WsgiApp:
        with self._lock:
            if self._bridge is None or self._pid != os.getpid():
                self._bridge, self._pid = self._start(), os.getpid()
            return self._bridge

    def _start(self) -> WsgiApp:
        # Imported here: the SDK and Starlette cost web processes nothing until /mcp is used.
        from a2wsgi import ASGIMiddleware
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager

        from bridge.agents.server import build_server, http_token

        server = build_server(InProcessApi(self.app), http_token, self.base_url)
        # No DNS-rebinding Host/Origin allowlist (the SDK's default when none is given): every request
        # carries a bearer token, which a page on another origin cannot make a browser send here.
        manager = StreamableHTTPSessionManager(app=server, json_response=True, stateless=True)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            async with manager.run():
                ready.set()
                await asyncio.Event().wait()  # for the life of the process (a daemon thread)

        threading.Thread(target=loop.run_until_complete, args=(serve(),), name="mcp-loop", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the MCP session manager did not start")
        bridge: WsgiApp = ASGIMiddleware(StreamableHTTPASGIApp(manager), loop=loop)  # type: ignore[arg-type,assignment]
        return bridge
