"""Review holds through the API: list pending ones, read one with its message, approve, reject.

Reviewers with an API token act here; reviewers by email use the magic-link
pages (``bridge.api.review_pages``). Both go through ``bridge.review.holds.decide``,
so a hold changes state once, whichever acts first.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, g

from bridge.api import auth
from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.errors import Conflict, Gone, NotFound
from bridge.models import TokenScope
from bridge.review import audit as auditing
from bridge.review import holds
from bridge.review.links import LinkAction
from bridge.schemas.reviews import ReviewDetail, ReviewList, ReviewOut, ReviewQuery
from bridge.storage import Storage
from bridge.storage.review_records import Review

bp = Blueprint("reviews", __name__)


def _get(review_id: str) -> Review:
    review = services().storage.reviews.get(review_id)
    # A hold of an account outside the token's is as unknown as one that does not exist.
    if review is None or not auth.may_see(review.account):
        raise NotFound(f"no review {review_id!r}", code="reviewNotFound")
    return review


@endpoint(bp, "/reviews", "GET", summary="Pending review holds, soonest expiry first", query=ReviewQuery,
          response=ReviewList, scope=TokenScope.REVIEW)  # fmt: skip
def list_pending(query: ReviewQuery) -> ReviewList:
    reviews = services().storage.reviews
    limited = auth.visible()
    if limited is None:
        found = reviews.pending(query.limit, account=query.account)
    else:
        # A token limited to some accounts: the holds of those, still soonest expiry first.
        wanted = sorted(limited if query.account is None else limited & {query.account})
        merged = [r for a in wanted for r in reviews.pending(query.limit, account=a)]
        found = sorted(merged, key=lambda r: r.expires_at)[: query.limit]
    return ReviewList(reviews=[ReviewOut.of(r.to_json()) for r in found])


@endpoint(bp, "/reviews/<review_id>", "GET", summary="A review hold with its full message", response=ReviewDetail,
          errors=(404,), description="Decided holds stay readable for 7 days.", scope=TokenScope.REVIEW)  # fmt: skip
def get(review_id: str) -> ReviewDetail:
    review = _get(review_id)
    # The JSON the API shows: what was submitted (outbound), or the kept record / index entry (inbound).
    if review.outbound:
        message = review.message.to_json() if review.message is not None else None
    else:
        message = holds.held_message(services().storage, review)
    return ReviewDetail.with_message(review.to_json(), message)


def _decide(review_id: str, action: LinkAction) -> ReviewOut:
    _get(review_id)  # a hold outside the token's accounts is reviewNotFound
    return decide(services().storage, review_id, action, by=auditing.by_token(g.token_id))


def decide(storage: Storage, review_id: str, action: LinkAction, *, by: str) -> ReviewOut:
    """Approve or reject a hold once, or raise what stopped it (the console calls this too).

    Raises:
        NotFound (``reviewNotFound``), Gone (``reviewExpired``), Conflict (``reviewDecided``).
    """
    if storage.reviews.get(review_id) is None:
        raise NotFound(f"no review {review_id!r}", code="reviewNotFound")
    outcome = holds.decide(storage, review_id, action, by=by, now=datetime.now(UTC))
    if outcome.status == "missing" or outcome.review is None:
        raise NotFound(f"no review {review_id!r}", code="reviewNotFound")
    if outcome.status == "late":
        raise Gone("the hold expired before this decision; its onExpiry was applied", code="reviewExpired")
    if outcome.status == "already":
        state = outcome.state.value if outcome.state else "decided"
        if state == "expired":
            raise Gone("the hold has expired; its onExpiry was applied", code="reviewExpired")
        raise Conflict(f"the hold was already {state}", code="reviewDecided", details={"state": state})
    return ReviewOut.of(outcome.review.to_json())


@endpoint(bp, "/reviews/<review_id>/approve", "POST", summary="Approve: send (outbound) or deliver (inbound)",
          response=ReviewOut, errors=(404, 409, 410), scope=TokenScope.REVIEW)  # fmt: skip
def approve(review_id: str) -> ReviewOut:
    return _decide(review_id, LinkAction.APPROVE)


@endpoint(bp, "/reviews/<review_id>/reject", "POST", summary="Reject: never sent, never delivered",
          response=ReviewOut, errors=(404, 409, 410), scope=TokenScope.REVIEW)  # fmt: skip
def reject(review_id: str) -> ReviewOut:
    return _decide(review_id, LinkAction.REJECT)
