"""Console form fields to the REST API's request bodies, and validation errors back to the fields.

Form inputs are named by the body's own field paths (``imap.host``,
``imap.auth.pass``), so an error the API's schema reports for ``imap.port``
lands next to the input named ``imap.port``. Pure: mappings in, dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Connection security choices and what they mean in the API body.
SECURITY = {
    "tls": {"secure": True},
    "starttls": {"secure": False, "starttls": True},
    "auto": {"secure": False},
    "none": {"secure": False, "starttls": False},
}
GENERAL = "_form"  # where an error that names no field goes


def _number(value: str) -> int | str:
    value = value.strip()
    return int(value) if value.isdigit() else value


def _server(form: Mapping[str, str], side: str) -> dict[str, Any] | None:
    host = form.get(f"{side}.host", "").strip()
    if side == "smtp" and not host:
        return None  # receive-only account
    user = form.get(f"{side}.auth.user", "").strip()
    password = form.get(f"{side}.auth.pass", "")
    if side == "smtp" and form.get("smtp.same") == "on":
        user, password = form.get("imap.auth.user", "").strip(), form.get("imap.auth.pass", "")
    server: dict[str, Any] = {
        "host": host,
        "port": _number(form.get(f"{side}.port", "")),
        **SECURITY.get(form.get(f"{side}.security", "tls"), SECURITY["tls"]),
        "auth": {"user": user, **({"pass": password} if password else {})},
    }
    if form.get(f"{side}.insecure") == "on":
        server["tls"] = {"rejectUnauthorized": False}
    return server


def account_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The ``POST /v1/accounts`` body the add-account form describes."""
    body: dict[str, Any] = {
        "account": form.get("account", "").strip(),
        "email": form.get("email", "").strip(),
        "imap": _server(form, "imap"),
        "smtp": _server(form, "smtp"),
        "verify": form.get("verify") == "on",
    }
    name = form.get("name", "").strip()
    if name:
        body["name"] = name
    return body


def verify_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The ``POST /v1/verifyAccount`` body for the same form (the check before saving)."""
    body = account_body(form)
    return {side: body[side] for side in ("imap", "smtp") if body[side] is not None}


def field_errors(details: object) -> dict[str, list[str]]:
    """The API's ``details`` list (``field``, ``message``) grouped by form field; others under ``GENERAL``."""
    out: dict[str, list[str]] = {}
    if not isinstance(details, list):
        return out
    for item in details:
        if not isinstance(item, dict):
            continue
        name = str(item.get("field") or GENERAL)
        if name in ("body", ""):
            name = GENERAL
        out.setdefault(name, []).append(str(item.get("message", "")))
    return out


def login_error(code: str, message: str, details: object) -> dict[str, list[str]]:
    """A failed login (``authenticationFailed``, ``connectFailed`` …) shown on the side that failed."""
    side = details.get("side") if isinstance(details, dict) else None
    where = f"{side}.host" if side in ("imap", "smtp") else GENERAL
    if code == "authenticationFailed" and side in ("imap", "smtp"):
        where = f"{side}.auth.pass"
    return {where: [f"{code}: {message}"]}
