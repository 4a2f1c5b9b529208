"""Accounts and one account: state, add (verify first), OAuth2 sign-in, reconnect, delete, policy, suppressions.

Adding calls ``bridge.api.accounts.attach``, the function ``POST /v1/accounts``
calls; the check without saving is ``connectivity.check_servers``, what
``POST /v1/verifyAccount`` runs. Live events come over the console's own
WebSocket route, which takes the session cookie (and a same-origin ``Origin``)
instead of a bearer token, so the API's bearer rules stay as they are.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request, url_for

from bridge.accounts import connectivity
from bridge.accounts.removal import delete_account
from bridge.api.accounts import attach
from bridge.api.openapi import validate
from bridge.api.services import services
from bridge.api.stream import follow, sock
from bridge.console import forms
from bridge.console.charts import bar_chart
from bridge.console.series import chart_series
from bridge.console.web import SCOPES, back, bp, error_page, operator, page, render, same_origin, see_other
from bridge.errors import BridgeError, ValidationError
from bridge.events.model import Event
from bridge.models import Account, AccountState, TokenScope
from bridge.oauth import flow
from bridge.review import audit as auditing
from bridge.schemas.accounts import AccountCreate, VerifyRequest
from bridge.schemas.policy import Policy
from bridge.schemas.suppressions import SuppressionIn
from bridge.storage.suppressions import now_entry

MANAGE = TokenScope.MANAGE
RECENT_EVENTS = 50
NOTICES = {
    "added": "Account added. The watcher connects to it within a few seconds.",
    "deleted": "Account deleted.",
    "reconnect": "Reconnect requested: the watcher restarts this account's connection within a few seconds.",
    "policy": "Policy saved.",
    "suppressed": "Address suppressed.",
    "unsuppressed": "Address removed from the suppression list.",
}


def _row(account: Account) -> dict[str, Any]:
    """One row of the accounts page, as the template reads it."""
    storage = services().storage
    state = storage.accounts.get_state(account.id)
    last = next((e for e in reversed(storage.events.recent(account.id, 200)) if e.event == "messageNew"), None)
    return {
        "account": account,
        "state": _state(state),
        "idle": account.watch[:1],
        "polled": account.watch[1:],
        "last_message": {"subject": last.data.get("subject") or "(no subject)", "date": last.date} if last else None,
    }


def _state(state: AccountState) -> dict[str, Any]:
    error = state.error
    return {
        "state": state.state.value,
        "since": state.since,
        "error": {"code": error.code.value, "message": error.message, "at": error.at} if error else None,
        "next_retry": state.next_retry,
    }


@page("/console/", scope=MANAGE)
def accounts() -> Response:
    storage = services().storage
    rows = [_row(a) for a in storage.accounts.list()]
    apps = [a for a in storage.oauth.list_apps() if a.provider in ("google", "microsoft")]
    return render("accounts.html", rows=rows, apps=apps, notice=NOTICES.get(request.args.get("notice", "")),
                  charts=_charts())  # fmt: skip


def _charts() -> dict[str, str]:
    found = chart_series(services().storage, datetime.now(UTC))
    return {"events": bar_chart(found.events, "chart-events"), "webhooks": bar_chart(found.webhooks, "chart-webhooks")}


@page("/console/accounts/states.json", scope=MANAGE)
def account_states() -> Response:
    """Every account's state, for the Accounts page to refresh itself without a reload."""
    storage = services().storage
    return jsonify({a.id: _state(storage.accounts.get_state(a.id)) for a in storage.accounts.list()})


@page("/console/accounts/new", scope=MANAGE, methods=("GET", "POST"))
def account_new() -> Response:
    values: dict[str, str] = {"imap.security": "tls", "imap.port": "993", "smtp.security": "tls", "smtp.port": "465",
                              "verify": "on", "smtp.same": "on"}  # fmt: skip
    errors: dict[str, list[str]] = {}
    checked: dict[str, Any] | None = None
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k != "csrf"}
        if request.form.get("action") == "verify":
            checked, errors = _verify(values)
        else:
            try:
                created = attach(services().storage, validate(AccountCreate, forms.account_body(values)))
            except ValidationError as exc:
                errors = forms.field_errors(exc.details) or {forms.GENERAL: [exc.message]}
            except BridgeError as exc:
                errors = forms.login_error(exc.code, exc.message, exc.details)
            else:
                return back("console.account", "added", account=created.id)
    status = 422 if errors else 200
    return render("account_new.html", status=status, values=values, errors=errors, checked=checked)


def _verify(values: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """Log in to each side without saving anything; what ``POST /v1/verifyAccount`` does."""
    try:
        body = validate(VerifyRequest, forms.verify_body(values))
    except ValidationError as exc:
        return None, forms.field_errors(exc.details) or {forms.GENERAL: [exc.message]}
    result = connectivity.check_servers(
        body.imap.to_config() if body.imap else None,
        body.smtp.to_config() if body.smtp else None,
        storage=services().storage,
    )

    def side(checked: bool, error: BridgeError | None) -> dict[str, Any] | None:
        if not checked:
            return None
        return {"ok": error is None, "code": error.code if error else None, "message": error.message if error else None}

    return {"imap": side(result.imap_checked, result.imap), "smtp": side(result.smtp_checked, result.smtp)}, {}


@page("/console/accounts/oauth", scope=MANAGE, methods=("POST",))
def account_oauth() -> Response:
    """Start "Sign in with Google/Microsoft": what ``POST /v1/authentication/form`` does, then go there."""
    svc = services()
    account = request.form.get("account", "").strip()
    if not account:
        return error_page(400, "Give the new account an id first.")
    done = svc.settings.public_url.rstrip("/") + url_for("console.accounts")
    pending = flow.new_pending(request.form.get("app", ""), account, None, done, request.form.get("email", ""))
    url = flow.begin(svc.storage.oauth, svc.settings.secret.reveal(), svc.settings.public_url, pending)
    return see_other(url)


@page("/console/accounts/<account>", scope=MANAGE)
def account(account: str) -> Response:
    storage = services().storage
    found = storage.accounts.get(account)
    events = storage.events.recent(account, RECENT_EVENTS)
    policy = storage.policies.get(account)
    return render(
        "account.html", row=_row(found), events=[_event(e) for e in reversed(events)],
        last_event=_resume_from(events), suppressions=storage.suppressions.all(account),
        policy_text=json.dumps(policy.model_dump(mode="json", by_alias=True), indent=2), policy_errors={},
        notice=NOTICES.get(request.args.get("notice", "")),
    )  # fmt: skip


def _resume_from(shown: list[Event]) -> str:
    """Where the page's live stream starts: after the newest event shown, so nothing falls in between.

    With none shown, ``evt_0``: the account's stream was empty when the page was drawn, so all of it is new.
    """
    return shown[-1].id if shown else "evt_0"


def _event(event: Event) -> dict[str, Any]:
    data = event.data
    summary = data.get("subject") or (data.get("state") if isinstance(data.get("state"), str) else "") or ""
    return {"id": event.id, "event": event.event, "date": event.date, "summary": summary}


@page("/console/accounts/<account>/reconnect", scope=MANAGE, methods=("POST",))
def account_reconnect(account: str) -> Response:
    storage = services().storage
    # The watcher restarts a watch whose account record changed (bridge.imap.runner): rewriting it unchanged
    # moves its "updated" time, which is exactly that signal, in every watcher process.
    storage.accounts.replace(storage.accounts.get(account))
    return back("console.account", "reconnect", account=account)


@page("/console/accounts/<account>/delete", scope=MANAGE, methods=("POST",))
def account_delete(account: str) -> Response:
    delete_account(services().storage, account, by=auditing.by_token(operator().token.id), now=datetime.now(UTC))
    return back("console.accounts", "deleted")


@page("/console/accounts/<account>/policy", scope=MANAGE, methods=("POST",))
def account_policy(account: str) -> Response:
    storage = services().storage
    found = storage.accounts.get(account)
    text = request.form.get("policy", "")
    errors: dict[str, list[str]] = {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        errors = {forms.GENERAL: [f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]}
    else:
        try:
            policy = validate(Policy, data)
        except ValidationError as exc:
            errors = forms.field_errors(exc.details) or {forms.GENERAL: [exc.message]}
        else:
            storage.policies.put(account, policy)  # what PUT /v1/account/{a}/policy does
            return back("console.account", "policy", account=account, _anchor="policy")
    events = storage.events.recent(account, RECENT_EVENTS)
    return render(
        "account.html", status=422, row=_row(found), events=[_event(e) for e in reversed(events)],
        last_event=_resume_from(events), suppressions=storage.suppressions.all(account),
        policy_text=text, policy_errors=errors, notice=None,
    )  # fmt: skip


@page("/console/accounts/<account>/suppressions", scope=MANAGE, methods=("POST",))
def account_suppress(account: str) -> Response:
    storage = services().storage
    storage.accounts.get(account)
    body = validate(SuppressionIn, {"address": request.form.get("address", "").strip(),
                                    "reason": request.form.get("reason", "").strip() or "manual"})  # fmt: skip
    storage.suppressions.add(account, now_entry(body.address, body.reason, "manual"))
    return back("console.account", "suppressed", account=account, _anchor="suppressions")


@page("/console/accounts/<account>/suppressions/remove", scope=MANAGE, methods=("POST",))
def account_unsuppress(account: str) -> Response:
    storage = services().storage
    storage.accounts.get(account)
    storage.suppressions.remove(account, request.form.get("address", ""))
    return back("console.account", "unsuppressed", account=account, _anchor="suppressions")


@bp.before_request
def _stream_origin() -> Response | None:
    # SameSite=Strict already keeps the cookie off other sites' requests; a WebSocket upgrade is also checked
    # for a same-origin Origin header (browsers always send it), against cross-site WebSocket hijacking.
    if request.endpoint == "console.account_stream" and not same_origin(request.headers.get("Origin")):
        return error_page(403, "The event stream opens only from this console's own pages.")
    return None


@sock.route("/console/accounts/<account>/stream", bp=bp)  # type: ignore[untyped-decorator]  # flask-sock is untyped
def account_stream(ws: Any, account: str) -> None:
    """The account's events as JSON text frames, as ``/v1/account/{a}/stream`` sends them."""
    storage = services().storage
    storage.accounts.get(account)
    since = request.args.get("since", "")
    after = int(since.removeprefix("evt_")) if since.startswith("evt_") and since[4:].isdigit() else None
    follow(ws, account, storage.events.last_seq(account) if after is None else after)


SCOPES["console.account_stream"] = TokenScope.READ  # the REST stream's scope, checked by the guard
