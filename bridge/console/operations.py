"""Outbox (cancel), Reviews (preview, approve, reject) and Tokens (create with scopes, revoke).

Each action calls what its REST route calls: ``outbound.cancel``,
``bridge.api.reviews.decide`` (so a hold changes state once, whichever of the
console, the API or a magic link acts first), ``TokenStore.create``/``revoke``.
"""

from __future__ import annotations

from flask import Response, request

from bridge.api.openapi import validate
from bridge.api.reviews import decide
from bridge.api.services import services
from bridge.console import forms
from bridge.console.web import back, operator, page, render
from bridge.errors import ValidationError
from bridge.models import TokenScope
from bridge.outbound import submit as outbound
from bridge.review import audit as auditing
from bridge.review.links import LinkAction
from bridge.schemas.reviews import ReviewOut
from bridge.schemas.submit import OutboxEntryOut
from bridge.schemas.tokens import TokenCreate, TokenOut

LISTED = 200
NOTICES = {
    "cancelled": "Message cancelled: it will not be sent.",
    "approved": "Approved.",
    "rejected": "Rejected.",
    "revoked": "Token revoked.",
}


@page("/console/outbox", scope=TokenScope.SEND)
def outbox() -> Response:
    entries = [OutboxEntryOut.of(e.to_json()) for e in services().storage.outbox.active(LISTED)]
    return render("outbox.html", entries=entries, notice=NOTICES.get(request.args.get("notice", "")))


@page("/console/outbox/<queue_id>/cancel", scope=TokenScope.SEND, methods=("POST",))
def outbox_cancel(queue_id: str) -> Response:
    outbound.cancel(services().storage, queue_id)
    return back("console.outbox", "cancelled")


@page("/console/reviews", scope=TokenScope.REVIEW)
def reviews() -> Response:
    storage = services().storage
    found = [ReviewOut.of(r.to_json()) for r in storage.reviews.pending(LISTED)]
    return render("reviews.html", reviews=found, notice=NOTICES.get(request.args.get("notice", "")))


@page("/console/reviews/<review_id>/<action>", scope=TokenScope.REVIEW, methods=("POST",))
def review_decide(review_id: str, action: str) -> Response:
    chosen = {"approve": LinkAction.APPROVE, "reject": LinkAction.REJECT}.get(action)
    if chosen is None:
        raise ValidationError(f"no action {action!r}: approve or reject")
    decide(services().storage, review_id, chosen, by=auditing.by_token(operator().token.id))
    return back("console.reviews", "approved" if chosen is LinkAction.APPROVE else "rejected")


@page("/console/tokens", scope=TokenScope.ADMIN, methods=("GET", "POST"))
def tokens() -> Response:
    storage = services().storage
    created: str | None = None
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {"scopes": []}
    if request.method == "POST":
        accounts = [a.strip() for a in request.form.get("accounts", "").split(",") if a.strip()]
        values = {"description": request.form.get("description", ""), "scopes": request.form.getlist("scopes"),
                  "accounts": request.form.get("accounts", "")}  # fmt: skip
        body = {"description": values["description"], "scopes": values["scopes"], "accounts": accounts or None}
        try:
            valid = validate(TokenCreate, body)
        except ValidationError as exc:
            errors = forms.field_errors(exc.details) or {forms.GENERAL: [exc.message]}
        else:
            _, created = storage.tokens.create(valid.description, valid.scopes, valid.accounts)  # shown once, here
            values = {"scopes": []}
    listed = [TokenOut.of(t) for t in storage.tokens.list()]
    return render("tokens.html", status=422 if errors else 200, tokens=listed, created=created, errors=errors,
                  values=values, scopes=[s.value for s in TokenScope],
                  notice=NOTICES.get(request.args.get("notice", "")))  # fmt: skip


@page("/console/tokens/<token_id>/revoke", scope=TokenScope.ADMIN, methods=("POST",))
def token_revoke(token_id: str) -> Response:
    services().storage.tokens.revoke(token_id)
    # Revoking the token signed in here ends this session too (the guard reloads the token each time).
    return back("console.tokens", "revoked")
