"""Examples and tag descriptions for the OpenAPI document (what /docs shows).

Every request body, response body, parameter and error response gets an example.

Most are generated from the JSON Schema pydantic made of the models: a declared example,
const, default or the first enum value wins; strings that must match a pattern get the first
of a few realistic candidates that matches it; objects get their properties. A few request
bodies whose fields exclude one another (a password or an access token, not both) have a
written example in ``REQUEST_EXAMPLES``. tests/api/test_docs.py validates every request
example against its model, so an example the API would refuse fails the suite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# One entry per tag, in the order /docs lists them; a tag not named here is listed after them.
TAG_DESCRIPTIONS = {
    "accounts": "Attach mailboxes (IMAP + SMTP), check credentials, see each account's connection state.",
    "messages": "Stored messages and the live mailbox: list, read, source, attachments, flags, move, delete.",
    "submit": "Send mail through the account's SMTP server, now or later, with the review gate.",
    "outbox": "Queued, scheduled and retrying sends; cancel one.",
    "reviews": "Held messages waiting for a human: list, preview, approve, reject.",
    "policy": "Per-account rules for inbound and outbound mail.",
    "suppressions": "Addresses the account will not send to (hard bounces, complaints, by hand).",
    "webhooks": "Signed event deliveries (Standard Webhooks), their log and redelivery.",
    "stream": "The account's events over a WebSocket, with resume.",
    "audit": "What the policy decided about each message, and why.",
    "oauth": "OAuth2 apps (Google, Microsoft) and sign-in links for accounts.",
    "oauth_pages": "Browser redirects of the OAuth2 sign-in (no API token).",
    "tokens": "API tokens and their scopes.",
    "meta": "Health of the bridge and its dependencies.",
    "metrics": "Prometheus metrics (token with the metrics scope).",
}

# Written request examples, by model name, where a generated one would not be a valid request.
_SERVER = {"host": "imap.example.com", "port": 993, "secure": True}
_LOGIN = {"user": "support@example.com", "pass": "app-password"}
REQUEST_EXAMPLES: dict[str, Any] = {
    "AccountCreate": {
        "account": "support",
        "name": "Support inbox",
        "email": "support@example.com",
        "imap": {**_SERVER, "auth": _LOGIN},
        "smtp": {"host": "smtp.example.com", "port": 465, "secure": True, "auth": _LOGIN},
    },
    "AccountUpdate": {"name": "Support inbox (EU)"},
    "VerifyRequest": {
        "imap": {**_SERVER, "auth": _LOGIN},
        "smtp": {"host": "smtp.example.com", "port": 465, "secure": True, "auth": _LOGIN},
    },
    "SubmitBody": {
        "to": [{"name": "Ada", "address": "ada@example.org"}],
        "subject": "Your order",
        "text": "It ships today.",
    },
    "OAuthAppCreate": {
        "provider": "google",
        "name": "Gmail",
        "clientId": "1234-abc.apps.googleusercontent.com",
        "clientSecret": "GOCSPX-example",
        "redirectUrl": "https://mail-bridge.example.com/oauth/callback",
    },
    "OAuthAppUpdate": {"name": "Gmail (production)"},
    "TokenCreate": {"description": "billing service", "scopes": ["read", "send"], "accounts": ["support"]},
    # The live mailbox (bridge/api/messages.py).
    "SearchBody": {"search": {"from": "ada@example.org", "subject": "order", "seen": False, "since": "2026-11-01"}},
    "MessageUpdate": {"flags": {"add": ["\\Seen"], "delete": ["\\Flagged"]}},
    "MoveBody": {"path": "Archive"},
    "BulkFlags": {"search": {"from": "ada@example.org"}, "flags": {"add": ["\\Seen"]}},
    "BulkMove": {"ids": ["mZVPxAAAAACpJTkJPWA"], "path": "Archive"},
    "BulkDelete": {"search": {"before": "2026-01-01"}},
    "MailboxCreate": {"path": "Projects.2026"},
    "MailboxRename": {"path": "Projects.2026", "newPath": "Archive.Projects 2026"},
    "DraftBody": {"to": [{"name": "Ada", "address": "ada@example.org"}], "subject": "Your order", "text": "Draft."},
}

# Candidates for strings, by property name first, then for any string with a pattern.
_BY_NAME: dict[str, Any] = {
    "account": "support",
    "email": "support@example.com",
    "address": "ada@example.org",
    "url": "https://example.com/webhooks/mail",
    "redirectUrl": "https://app.example.com/mail-connected",
    "host": "imap.example.com",
    "domain": "example.org",
    "name": "Support inbox",
    "description": "billing service",
    "subject": "Your order",
    "text": "It ships today.",
    "folder": "INBOX",
    "reason": "invoice-scam",
    "flags": "\\Seen",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "token": "mb_3J0kExampleExampleExampleExampleExample",
    "id": "4f1c9a2b",
    "queueId": "q_9b2c4d6e8f",
    "messageId": "<20261207.4f2a@example.com>",
    "contentType": "application/pdf",
    "contentId": "<logo@example.com>",
    "content": "JVBERi0xLjQK",
    "filename": "invoice.pdf",
    "cursor": "42",
    "user": "support@example.com",
    "from": "ada@example.org",
    "to": "support@example.com",
    "method": "password",
    "watch": "INBOX",
    "events": "messageNew",
    "event": "messageNew",
    "conversationId": "c_5d1f0a9e3b7c",
    "state": "connected",
    "status": "ok",
    "error": "connection refused",
    "response": "250 2.0.0 Ok: queued",
    "provider": "google",
    "clientId": "1234-abc.apps.googleusercontent.com",
    "version": "1.0.0",
}
_INT_BY_NAME = {"port": 993, "backfill": 0, "limit": 20, "seq": 42, "attempts": 1, "size": 2048, "uid": 1234}
# Property names that hold a time (RFC 3339).
_TIME = re.compile(r"(At|^created|^updated|^date|^since|^expires|^until|Time|^sent|^received)$")
_CANDIDATES = (
    "support",
    "ada@example.org",
    "https://example.com/webhooks/mail",
    "imap.example.com",
    "example.org",
    "evt_42",
    "1733580000000-0",
    "42",
    "\\Seen",
    "invoice-scam",
    "text/plain",
    "JVBERi0xLjQK",
    "<20261207.4f2a@example.com>",
    "i",
    "Hello",
)
_FORMATS = {"date-time": "2026-12-07T18:30:00.000Z", "email": "ada@example.org", "regex": "(?i)wire transfer"}

# Path parameters by name (the ids the API hands out).
PATH_EXAMPLES = {
    "account": "support",
    "message": "mZVPxAAAAACpJTkJPWA",  # bridge.mail.ids: INBOX, UIDVALIDITY 1700000000, UID 42
    "attachment": "2",
    "conversation": "conv_5d0c1e6f2a9b8c7d6e5f",
    "webhook_id": "wh_4f1c9a2b",
    "delivery_id": "dl_8e3f2a1b01",
    "queue_id": "q_9b2c4d6e8f",
    "review_id": "rv_2b7e1f0c",
    "token_id": "tok_1a2b3c4d5e6f",
    "app_id": "oa_3f2a9c1d",
    "address": "ada@example.org",
}

# The error each status answers most often (bridge.errors), as the ErrorBody example.
ERROR_EXAMPLES = {
    400: ("invalidInput", "invalid body: imap.port: Input should be greater than or equal to 1"),
    401: ("unauthorized", "an API token is required: send 'Authorization: Bearer <token>'"),
    403: ("insufficientScope", "this API token lacks the 'manage' scope this route needs"),
    404: ("notFound", "no account 'support'"),
    409: ("conflict", "the resource exists already"),
    413: ("requestEntityTooLarge", "the request body is larger than 36 MiB"),
    415: ("unsupportedMediaType", "send the body as application/json"),
    422: ("authenticationFailed", "the IMAP server refused the login"),
    426: ("upgradeRequired", "this route is a WebSocket: upgrade the connection"),
    503: ("storageUnavailable", "Redis is unavailable"),
}


def from_schema(schema: dict[str, Any], defs: dict[str, Any], name: str | None = None, depth: int = 0) -> Any:
    """An example value for a JSON Schema (``defs``: components.schemas, for $ref)."""
    if depth > 12:
        return None
    for key in ("examples",):
        if schema.get(key):
            return schema[key][0]
    if "example" in schema:
        return schema["example"]
    if "const" in schema:
        return schema["const"]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return from_schema(defs[ref.rsplit("/", 1)[-1]], defs, name, depth + 1)
    if schema.get("default") is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = [b for b in schema.get(key, ()) if b.get("type") != "null"]
        if branches:
            return from_schema(branches[0], defs, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        props: dict[str, Any] = schema.get("properties", {})
        return {key: from_schema(prop, defs, key, depth + 1) for key, prop in props.items()}
    if kind == "array":
        item = from_schema(schema.get("items", {}), defs, name, depth + 1)
        return [] if item is None else [item]
    if kind == "integer":
        return _INT_BY_NAME.get(name or "", max(int(schema.get("minimum", 1)), 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return False
    if kind == "string":
        return _string(schema, name)
    return None


def _string(schema: dict[str, Any], name: str | None) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    if name and _TIME.search(name) and "pattern" not in schema:
        return _FORMATS["date-time"]
    pattern = schema.get("pattern")
    named = _BY_NAME.get(name or "")
    if not isinstance(pattern, str):
        return str(named) if named is not None else "string"
    for candidate in (named, *_CANDIDATES):
        if isinstance(candidate, str) and _matches(pattern, candidate):
            return candidate
    return str(named) if named is not None else "string"


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def tags(used: Iterable[str]) -> list[dict[str, str]]:
    """The document's tag list: each tag in use once, described, in a stable order."""
    names = set(used)
    ordered = [t for t in TAG_DESCRIPTIONS if t in names] + sorted(names - set(TAG_DESCRIPTIONS))
    return [{"name": t, "description": TAG_DESCRIPTIONS.get(t, t)} for t in ordered]


def error_example(status: int) -> dict[str, Any]:
    code, message = ERROR_EXAMPLES.get(status, ("internalError", "internal error; see the server log"))
    return {"error": {"code": code, "message": message, "details": None}}


def add_examples(spec: dict[str, Any]) -> None:
    """Give every operation of ``spec`` its examples, in place."""
    defs: dict[str, Any] = spec["components"]["schemas"]
    for item in spec["paths"].values():
        for op in item.values():
            for param in op.get("parameters", ()):
                if "example" not in param:
                    param["example"] = PATH_EXAMPLES.get(param["name"]) if param["in"] == "path" else None
                    if param["example"] is None:
                        param["example"] = from_schema(param.get("schema", {}), defs, param["name"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "example" not in body:
                model = body["schema"]["$ref"].rsplit("/", 1)[-1]
                body["example"] = REQUEST_EXAMPLES.get(model) or from_schema(body["schema"], defs)
            for status, response in op["responses"].items():
                for media, content in response.get("content", {}).items():
                    if "example" in content:
                        continue
                    ref = content.get("schema", {}).get("$ref", "")
                    if ref.endswith("/ErrorBody"):
                        content["example"] = error_example(int(status))
                    elif media == "application/json":
                        content["example"] = from_schema(content["schema"], defs)
                    else:
                        content["example"] = _RAW_EXAMPLES.get(media.split(";")[0], "…")


_RAW_EXAMPLES = {
    "message/rfc822": "From: Ada <ada@example.org>\r\nTo: support@example.com\r\nSubject: Your order\r\n\r\nHello\r\n",
    "text/plain": '# HELP mailbridge_accounts Accounts by connection state.\n# TYPE mailbridge_accounts gauge\nmailbridge_accounts{state="connected"} 3.0\n',
    "application/octet-stream": "(the attachment's bytes)",
}
