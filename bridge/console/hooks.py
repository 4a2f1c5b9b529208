"""Webhooks (add, delete, rotate the secret, deliveries with every attempt, redeliver) and the Audit log.

Redelivery is ``bridge.api.webhooks.redeliver_now`` and the audit search
``bridge.api.audit.find_records``: the functions behind the REST routes.
New secrets are shown once, in the answer to the POST that made them.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Response, request, url_for

from bridge.api.audit import find_records
from bridge.api.openapi import validate
from bridge.api.services import services
from bridge.api.webhooks import redeliver_now, subscribe
from bridge.console import forms
from bridge.console.web import back, page, render
from bridge.errors import NotFound, ValidationError
from bridge.models import TokenScope
from bridge.schemas.audit import AuditPage, AuditQuery
from bridge.schemas.webhooks import AttemptOut, DeliveryOut, WebhookCreate, WebhookOut
from bridge.webhooks.dispatcher import Dispatcher

MANAGE = TokenScope.MANAGE
DELIVERIES_SHOWN = 50
NOTICES = {
    "deleted": "Webhook deleted.",
    "redelivered": "Redelivery queued: its first attempt is made at once.",
}


def _webhooks_page(status: int = 200, **context: object) -> Response:
    subs = [WebhookOut.of(s) for s in services().storage.webhooks.all()]
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render("webhooks.html", status=status, webhooks=subs,
                  notice=NOTICES.get(request.args.get("notice", "")), **context)  # fmt: skip


@page("/console/webhooks", scope=MANAGE, methods=("GET", "POST"))
def webhooks() -> Response:
    if request.method == "GET":
        return _webhooks_page()
    svc = services()
    values = {k: request.form.get(k, "").strip() for k in ("url", "events", "account")}
    events = [e.strip() for e in values["events"].split(",") if e.strip()]
    body = {"url": values["url"], "events": events or None, "account": values["account"] or None}
    try:
        sub, secret = subscribe(svc.storage, validate(WebhookCreate, body), production=svc.settings.production)
    except ValidationError as exc:
        errors = forms.field_errors(exc.details) or {"url": [exc.message]}
        return _webhooks_page(422, errors=errors, values=values)
    except NotFound as exc:
        return _webhooks_page(422, errors={"account": [exc.message]}, values=values)
    return _webhooks_page(201, secret={"webhook": sub.id, "value": secret, "kind": "created"})


@page("/console/webhooks/<webhook_id>/delete", scope=MANAGE, methods=("POST",))
def webhook_delete(webhook_id: str) -> Response:
    services().storage.webhooks.delete(webhook_id)
    return back("console.webhooks", "deleted")


@page("/console/webhooks/<webhook_id>/rotate", scope=MANAGE, methods=("POST",))
def webhook_rotate(webhook_id: str) -> Response:
    sub, secret = services().storage.webhooks.rotate(webhook_id, time.time())
    return _webhooks_page(secret={"webhook": sub.id, "value": secret, "kind": "rotated"})


@page("/console/webhooks/<webhook_id>/test", scope=MANAGE, methods=("POST",))
def webhook_test(webhook_id: str) -> Response:
    """Send one signed test event now and show the answer (nothing stored or retried)."""
    svc = services()
    sub = svc.storage.webhooks.get(webhook_id)
    with Dispatcher(svc.storage, production=svc.settings.production, threads=1) as dispatcher:
        result = AttemptOut.of(dispatcher.send_test(sub))
    return _webhooks_page(tested={"webhook": sub.id, "attempt": result})


@page("/console/webhooks/<webhook_id>", scope=MANAGE)
def webhook(webhook_id: str) -> Response:
    store = services().storage.webhooks
    sub = WebhookOut.of(store.get(webhook_id))
    found, _ = store.page(webhook_id, limit=DELIVERIES_SHOWN, before_seq=None)
    deliveries = [DeliveryOut.of(d, attempts) for d, attempts in found]
    return render("webhook.html", webhook=sub, deliveries=deliveries,
                  notice=NOTICES.get(request.args.get("notice", "")))  # fmt: skip


@page("/console/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver", scope=MANAGE, methods=("POST",))
def webhook_redeliver(webhook_id: str, delivery_id: str) -> Response:
    redeliver_now(services().storage, webhook_id, delivery_id)
    return back("console.webhook", "redelivered", webhook_id=webhook_id)


@page("/console/audit", scope=MANAGE)
def audit() -> Response:
    storage = services().storage
    accounts = [a.id for a in storage.accounts.list()]
    chosen = request.args.get("account") or (accounts[0] if accounts else "")
    filters = {k: request.args.get(k, "").strip() for k in ("decision", "cause", "since", "sender", "cursor")}
    errors: dict[str, list[str]] = {}
    result: AuditPage | None = None
    if chosen:
        try:
            query = validate(AuditQuery, {k: v for k, v in filters.items() if v}, "query")
            result = find_records(storage, chosen, query)
        except ValidationError as exc:
            errors = forms.field_errors(exc.details) or {forms.GENERAL: [exc.message]}
    older = None
    if result is not None and result.next_cursor:
        kept: dict[str, Any] = {k: v for k, v in filters.items() if v and k != "cursor"}
        older = url_for("console.audit", **{**kept, "account": chosen, "cursor": result.next_cursor})
    return render("audit.html", status=400 if errors else 200, accounts=accounts, chosen=chosen, filters=filters,
                  result=result, errors=errors, older_url=older)  # fmt: skip
