"""Magic-link pages: ``/review/<token>``, outside /v1 (the signed token is the credential).

``GET`` never acts: mail scanners and link previewers open links, so it only
shows the held message and one button. The button ``POST``s to the same URL,
and that makes the transition, once (``bridge.review.holds.decide``). A second use
of any link of the hold shows what happened (409 on POST); an expired link is
410 and a tampered one 400, each as a page, not JSON.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template

from bridge.api.services import services
from bridge.review import audit as auditing
from bridge.review import holds
from bridge.review.links import PAGE_STATUS, LinkAction, LinkClaim, Page, State, page_before_acting, read_token

bp = Blueprint("review_pages", __name__)

# The page is the only thing a link shows; nothing else may load, frame it, or see the token in a Referer.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}
_TEXT: dict[Page, tuple[str, str, str]] = {
    # page: (badge class, badge text, title); the lead sentence depends on the review
    Page.CONFIRM: ("pending", "Waiting for review", ""),
    Page.DONE: ("ok", "Done", ""),
    Page.ALREADY: ("info", "Already decided", ""),
    Page.EXPIRED: ("bad", "Expired", "This review link has expired"),
    Page.INVALID: ("bad", "Invalid link", "This review link is not valid"),
    Page.MISSING: ("bad", "Not found", "This review no longer exists"),
}


def _load(token: str) -> tuple[LinkClaim, dict[str, Any] | None, Page]:
    claim = read_token(services().settings.secret.reveal(), token, now=time.time())
    found = services().storage.reviews.get(claim.review_id) if claim.review_id else None
    review = found.to_json() if found is not None else None
    state = State(found.state) if found is not None else None
    expires_at = found.expires_at if found is not None else 0.0
    return claim, review, page_before_acting(claim.status, state, expires_at, time.time())


@bp.get("/review/<token>")
def show(token: str) -> Response:
    claim, review, page = _load(token)
    return _render(page, claim, review, PAGE_STATUS[page])


@bp.post("/review/<token>")
def act(token: str) -> Response:
    claim, review, page = _load(token)
    if page is not Page.CONFIRM:
        return _render(page, claim, review, 409 if page is Page.ALREADY else PAGE_STATUS[page])
    outcome = holds.decide(
        services().storage, claim.review_id, claim.action, by=auditing.by_link(claim.reviewer), now=datetime.now(UTC)
    )
    result = {"ok": Page.DONE, "already": Page.ALREADY, "late": Page.EXPIRED}.get(outcome.status, Page.MISSING)
    status = 409 if result is Page.ALREADY else PAGE_STATUS[result]
    decided = outcome.review.to_json() if outcome.review is not None else None
    return _render(result, claim, decided or review, status)


def _render(page: Page, claim: LinkClaim, review: dict[str, Any] | None, status: int) -> Response:
    badge, badge_text, title = _TEXT[page]
    lead = _lead(page, claim, review)
    if page is Page.CONFIRM:
        title = "Approve this message?" if claim.action is LinkAction.APPROVE else "Reject this message?"
    elif page in (Page.DONE, Page.ALREADY) and review is not None:
        title = _decided_title(review)
    shown = review if page not in (Page.INVALID, Page.MISSING) else None
    html = render_template(
        "review/page.html", page=page.value, title=title, lead=lead, badge=badge, badge_text=badge_text,
        review=shown, action=claim.action.value, show_preview=page in (Page.CONFIRM, Page.DONE),
    )  # fmt: skip
    return Response(html, status=status, mimetype="text/html", headers=_HEADERS)


def _decided_title(review: dict[str, Any]) -> str:
    state = review.get("state")
    if state == State.APPROVED.value:
        return "Approved"
    if state == State.REJECTED.value:
        return "Rejected"
    return "Expired"


def _lead(page: Page, claim: LinkClaim, review: dict[str, Any] | None) -> str:
    outbound = review is not None and review.get("direction") == "outbound"
    if page is Page.CONFIRM:
        if claim.action is LinkAction.APPROVE:
            return (
                "Check the message below. Approving sends it now."
                if outbound
                else ("Check the message below. Approving delivers it to the account's webhooks and streams.")
            )
        return (
            "Check the message below. Rejecting discards it: it is never sent."
            if outbound
            else ("Check the message below. Rejecting keeps it out of webhooks and streams for good.")
        )
    if page is Page.DONE and review is not None:
        if review.get("state") == State.APPROVED.value:
            return "The message is on its way." if outbound else "The message was delivered to the account."
        return "The message was discarded; it will not be sent." if outbound else "The message will not be delivered."
    if page is Page.ALREADY and review is not None:
        who = review.get("decidedBy") or "someone"
        return f"This message was already {review.get('state')} ({who} at {review.get('decidedAt')}). Nothing changed."
    if page is Page.EXPIRED:
        outcome = (review or {}).get("outcome") or (review or {}).get("onExpiry")
        suffix = f" The hold's expiry rule applied: {outcome}." if outcome else ""
        return "The hold ran out before anyone decided, so this link can no longer act." + suffix
    if page is Page.INVALID:
        return "The link is damaged or was not issued by this Mailbridge. Open it again from the review email."
    return "The hold is gone: decided holds are kept for 7 days."
