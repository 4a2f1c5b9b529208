"""The email that asks a reviewer to approve or reject a hold.

Renders ``templates/review/email.txt`` and ``email.html`` (Jinja, HTML
autoescaped: the preview is the held message's own text and may be hostile)
and builds the message with ``bridge.compose.build``. Sending is the worker's job
(``workers/review.py``), through the account's SMTP server. Reads template
files; no network.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import jinja2

from bridge.compose.build import compose
from bridge.compose.model import Composed, Draft, Mailbox
from bridge.review.links import LinkAction, make_token
from bridge.storage.review_records import Review

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_SUBJECT_CHARS = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def link(public_url: str, token: str) -> str:
    """The magic link of a token: ``BRIDGE_PUBLIC_URL/review/<token>``."""
    return f"{public_url.rstrip('/')}/review/{token}"


def build(
    review: Review,
    reviewer: str,
    *,
    sender: str,
    public_url: str,
    secret: str,
    now: datetime,
    unique: str,
) -> Composed:
    """One reviewer's email, with links signed for that reviewer that expire with the hold."""
    urls = {
        f"{action.value}_url": link(
            public_url,
            make_token(secret, review.id, action, reviewer, expires_at=review.expires_at, now=now.timestamp()),
        )
        for action in LinkAction
    }
    env = _environment()
    context = {"review": review.to_json(), **urls}
    subject = _CONTROL.sub(" ", review.subject or "(no subject)")[:_SUBJECT_CHARS]
    draft = Draft(
        from_=Mailbox(sender, "Mailbridge review"),
        to=(Mailbox(reviewer),),
        subject=f"Review needed: {subject}",
        text=env.get_template("review/email.txt").render(context),
        html=env.get_template("review/email.html").render(context),
        # RFC 3834 § 5: machine-generated; auto-responders must not answer it.
        headers=(("Auto-Submitted", "auto-generated"),),
    )
    return compose(draft, now=now, unique=unique)
