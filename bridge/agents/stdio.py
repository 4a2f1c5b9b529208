"""``python app.py mcp``: the MCP server over stdin/stdout, for agent runtimes that spawn it.

One client, one token: the token comes from the environment (``MAILBRIDGE_TOKEN``), is checked
once at start so a wrong one fails loudly instead of on every call, and then goes with every
REST call a tool makes, exactly as over HTTP. Logs go to stderr; stdout carries only MCP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from mcp.server.stdio import stdio_server

from bridge.agents.rest import InProcessApi
from bridge.agents.server import build_server

if TYPE_CHECKING:
    from flask import Flask

TOKEN_ENV = "MAILBRIDGE_TOKEN"  # noqa: S105 - the variable's name, not a secret


def serve(app: Flask, token: str, base_url: str) -> None:
    """Serve MCP on this process's stdin/stdout until the client closes stdin."""
    server = build_server(InProcessApi(app), lambda ctx: token, base_url)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
