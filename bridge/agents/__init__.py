"""Agents plug in: the MCP server (its tools, streamable HTTP at ``/mcp`` and stdio).

Every MCP tool is a thin adapter over one REST route, run in-process against the Flask app with
the caller's own bearer token, so each tool inherits that route's scope check, account limits,
validation, error body and JSON result by construction (and follows the route when it changes).

- ``tools``    the tool table: names, argument schemas, descriptions, and how arguments become a
               REST request and a REST answer becomes the tool's result.
- ``rest``     runs a REST request in-process (the app's own WSGI callable, no socket).
- ``server``   the MCP server (the official ``mcp`` SDK's low-level ``Server``) over that table.
- ``http``     ``/mcp`` on the web role: the SDK's streamable-HTTP app (ASGI) bridged into the WSGI
               app with a2wsgi, on one event loop thread per process.
- ``stdio``    ``python app.py mcp``: the same server over stdin/stdout with a token from the environment.

The only package that imports ``mcp``, ``mcp_types``, ``a2wsgi``, ``anyio`` and ``jsonschema``.
May import: no other package (the tools reach everything through the REST API).
Purity: tools
"""
