"""Review holds: the state machine, magic-link tokens and what a link shows.

Pure: no I/O; ``now`` (epoch seconds) is passed in, including to itsdangerous,
whose signer would otherwise read the clock itself. ``bridge.storage.reviews``
makes each transition one Lua step, and ``bridge.review.holds`` acts on the outcome.

States::

    pending ─┬─► approved    a reviewer approved (API token or magic link)
             ├─► rejected    a reviewer rejected
             └─► expired     nobody decided by expiresAt; ``outcome`` is the
                             policy's onExpiry (approve → sent/delivered, reject → discarded)

A hold leaves ``pending`` exactly once: the first transition wins and every
later attempt (a second click, the other link, the expiry job, an API call)
sees the final state and changes nothing. An approval or rejection that
arrives at or after ``expiresAt`` is refused as ``late``; the expiry applies.

Links are ``itsdangerous.URLSafeTimedSerializer`` tokens, one salt per action
(an approve token cannot be replayed as a reject), carrying the review id, the
reviewer it was mailed to, and its lifetime: the time left until the hold
expires when it was signed, so a link dies with its hold.
"""

from __future__ import annotations

import html as html_lib
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class LinkAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


FINAL_STATES = frozenset({State.APPROVED, State.REJECTED, State.EXPIRED})
SALT_PREFIX = "mailbridge.review."
PREVIEW_CHARS = 2000
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")


class _ClockSigner(TimestampSigner):
    """A TimestampSigner whose clock is the ``now`` passed in."""

    def __init__(self, *args: Any, now: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now)


def _serializer(secret: str, action: LinkAction, now: float) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt=SALT_PREFIX + action.value, signer=_ClockSigner, signer_kwargs={"now": now}
    )


def make_token(secret: str, review_id: str, action: LinkAction, reviewer: str, *, expires_at: float, now: float) -> str:
    """A link token for one reviewer and one action, valid until the hold expires."""
    ttl = max(1, math.ceil(expires_at - now))
    payload = {"r": review_id, "a": action.value, "u": reviewer, "t": ttl}
    return str(_serializer(secret, action, now).dumps(payload))


class TokenStatus(StrEnum):
    OK = "ok"
    INVALID = "invalid"  # tampered, truncated, or signed with another secret: 400
    EXPIRED = "expired"  # signature fine, lifetime over: 410


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What a verified token says (empty fields unless ``status`` is OK)."""

    status: TokenStatus
    review_id: str = ""
    action: LinkAction = LinkAction.APPROVE
    reviewer: str = ""


def read_token(secret: str, token: str, *, now: float) -> LinkClaim:
    """Verify a link token under each action's salt; an expired one still names its review."""
    for action in LinkAction:
        serializer = _serializer(secret, action, now)
        try:
            payload = serializer.loads(token)
        except BadSignature:
            continue
        if not isinstance(payload, dict) or payload.get("a") != action.value or not isinstance(payload.get("t"), int):
            return LinkClaim(TokenStatus.INVALID)
        claim = LinkClaim(TokenStatus.OK, str(payload.get("r", "")), action, str(payload.get("u", "")))
        try:
            serializer.loads(token, max_age=payload["t"])
        except SignatureExpired:
            return LinkClaim(TokenStatus.EXPIRED, claim.review_id, claim.action, claim.reviewer)
        return claim
    return LinkClaim(TokenStatus.INVALID)


class Page(StrEnum):
    """What a magic link shows."""

    CONFIRM = "confirm"  # GET on a pending hold: preview and one button
    DONE = "done"  # POST that made the transition
    ALREADY = "already"  # the hold was decided before
    EXPIRED = "expired"  # 410
    INVALID = "invalid"  # 400
    MISSING = "missing"  # 404: the hold is gone (kept for a while after its decision)


# HTTP status of each page; ALREADY on a POST is a 409 (the click changed nothing).
PAGE_STATUS = {
    Page.CONFIRM: 200,
    Page.DONE: 200,
    Page.ALREADY: 200,
    Page.EXPIRED: 410,
    Page.INVALID: 400,
    Page.MISSING: 404,
}


def page_before_acting(token: TokenStatus, state: State | None, expires_at: float, now: float) -> Page:
    """Which page a link shows before any transition; CONFIRM means the hold may still be acted on.

    A decided hold says so even when the link has expired since: that is the more useful answer.
    """
    if token is TokenStatus.INVALID:
        return Page.INVALID
    if state is None:
        return Page.MISSING
    if state in (State.APPROVED, State.REJECTED):
        return Page.ALREADY
    if state is State.EXPIRED or token is TokenStatus.EXPIRED or now >= expires_at:
        return Page.EXPIRED
    return Page.CONFIRM


def state_for(action: LinkAction) -> State:
    return State.APPROVED if action is LinkAction.APPROVE else State.REJECTED


def preview_text(text: str | None, html: str | None, limit: int = PREVIEW_CHARS) -> str:
    """Plain text for the review email and page: the text part, else the HTML with tags removed.

    The message's HTML is never rendered in a review page or email: it is the
    sender's (or the agent's) markup, and may be hostile.
    """
    body = text or ""
    if not body.strip() and html:
        body = html_lib.unescape(_TAGS.sub(" ", html))
    body = _BLANK_LINES.sub("\n\n", body.replace("\r\n", "\n")).strip()
    return body if len(body) <= limit else body[: limit - 1].rstrip() + "…"
