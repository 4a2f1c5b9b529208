"""Submit: queue a message for sending through the account's SMTP server."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response, request

from bridge.api.body import json_body
from bridge.api.openapi import endpoint, render
from bridge.api.services import services
from bridge.mailbox.client import MailboxClient
from bridge.models import TokenScope
from bridge.outbound import submit as outbound
from bridge.schemas.reviews import ReviewPending
from bridge.schemas.submit import SubmitAccepted, SubmitBody

bp = Blueprint("submit", __name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"


@endpoint(
    bp,
    "/account/<account>/submit",
    "POST",
    summary="Queue a message for delivery",
    body=SubmitBody,
    response=SubmitAccepted,
    status=202,
    errors=(404, 409, 413, 422),
    description=(
        "EmailEngine-compatible. Sent now or at sendAt by a worker, retried with backoff on 4xx and network "
        "errors, failed at once on 5xx. With an Idempotency-Key, the same request within 24 h gets the first "
        "answer and is sent once; the same key with another body is 409. When the account's policy holds the "
        "message for review, the answer is {status: pending_review, reviewId, messageId} and nothing is queued "
        "until a reviewer approves."
    ),
    scope=TokenScope.SEND,
)
def submit(account: str, body: SubmitBody) -> Response:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    storage = services().storage
    draft_raw = None
    if body.draft is not None:  # a stored draft (POST …/message), fetched through the account's watcher
        storage.accounts.get(account)
        draft_raw = MailboxClient(storage).call(account, "source", {"id": body.draft}).payload
    created = outbound.submit(
        storage,
        account,
        body,
        idempotency_key=key,
        request_fingerprint=outbound.fingerprint(account, json_body()) if key is not None else "",
        draft_raw=draft_raw,
    )
    held = created.answer.get("status") == "pending_review"  # policy holds it for review (bridge/review/gate.py)
    if body.draft is not None and not held and not created.replayed:
        # Queued: the draft is gone from Drafts, as a mail client does it (expunged, not moved to Trash).
        MailboxClient(storage).call(account, "delete", {"id": body.draft, "force": True})
    response = render((ReviewPending if held else SubmitAccepted).model_validate(created.answer), 202)
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


submit.__openapi__ = replace(  # type: ignore[attr-defined]
    submit.__openapi__,  # type: ignore[attr-defined]
    extra_params=(
        {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Replays within 24 h return the first answer instead of sending again",
        },
    ),
)
