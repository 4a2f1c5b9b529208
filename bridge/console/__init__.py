"""The operator console at ``/``: server-rendered pages for accounts, outbox, reviews, webhooks, audit, tokens.

A Flask blueprint (``web.bp``, registered by ``app.create_app``) over the same
service functions the REST routes call (``bridge.api.*``, ``bridge.storage``),
never HTTP to itself. Sign-in takes an API token with the ``admin`` or
``manage`` scope and turns it into a server-side session (``bridge.storage.console_sessions``)
held by an HttpOnly, SameSite=Strict cookie; every form carries a CSRF token.
Templates live in ``templates/console/``; the one stylesheet and the one script
in ``static/`` are served from here (no front-end build, nothing from other hosts).

- ``web``       the blueprint, the session guard, CSRF, headers, error pages
- ``signin``    sign-in and sign-out
- ``accounts``  Accounts, Account (live events, policy, suppressions), add/verify/reconnect/delete
- ``operations`` Outbox, Reviews, Tokens
- ``hooks``     Webhooks and the Audit log
- ``forms``     form fields to API request bodies, errors back to fields (pure)
- ``charts``    small inline SVG charts (pure)
- ``verdicts``  a message's auth verdict in plain words (pure)
- ``mail``      the message browser and its one adapter over the mailbox routes' functions
- ``series``    the numbers the charts draw (``bridge.metrics.recent``)
May import: api, schemas, storage, accounts, events.model, metrics.recent, oauth.flow, outbound,
review, webhooks.dispatcher.
Purity: forms, charts, verdicts
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """Add the console's pages to ``app`` (importing each page module registers its views)."""
    from bridge.console import accounts, hooks, mail, operations, signin  # noqa: F401 - they register views
    from bridge.console.web import bp

    app.register_blueprint(bp)
