"""Mailbridge entry points: the Flask app factory and the command line.

``create_app(settings)`` builds the web app; nothing happens at import time,
and importing this module stays cheap: Flask and the API modules load inside
``create_app``. The worker and watcher commands never need them, and the
watcher's spawned analysis workers import this module again as their
``__main__`` (multiprocessing's spawn), where Flask would cost ~50 MB each.
``python app.py run|web|worker|watch|token …`` is the command line
(see ``bridge/runtime/cli.py``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Blueprint, Flask

    from bridge.config import Settings

# Submit accepts messages up to 25 MiB; base64 attachments inflate JSON by 4/3.
MAX_REQUEST_BYTES = 36 * 1024 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app with its clients in ``app.extensions["bridge"]``."""
    from flask import Flask

    from bridge.api import errors, meta, metrics, oauth_pages, review_pages
    from bridge.api.services import Services
    from bridge.config import load_settings
    from bridge.crypto import Vault
    from bridge.errors import ConfigError
    from bridge.storage import Storage, connect

    settings = settings or load_settings(os.environ)
    if settings.redis_url is None:
        raise ConfigError("BRIDGE_REDIS_URL is missing; start the web server through `python app.py run` or set it")
    app = Flask(__name__, template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    # No redirects from routing: Werkzeug answers '//' and a missing trailing '/' with a 308 to the
    # "right" URL, an answer that is no error body, and for '/v1/webhooks/..%2F/x' a redirect to a path
    # nobody asked for. '//' is a JSON 404, a trailing '/' is tolerated. Set before any rule is added.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    # Server pings keep proxies from closing idle WebSockets (test-infra notes § 8).
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 25}
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["bridge"] = Services(
        settings=settings,
        storage=Storage(connect(settings.redis_url), Vault(settings.secret.reveal()), settings.event_retention),
    )
    errors.register(app)
    app.register_blueprint(meta.bp)
    # GET /metrics (Prometheus): a token with the metrics scope.
    app.register_blueprint(metrics.bp)
    # Magic-link pages: no API token, the signed token in the URL is the credential.
    app.register_blueprint(review_pages.bp)
    # OAuth2 sign-in redirects: no API token, the signed single-use state is the credential.
    app.register_blueprint(oauth_pages.bp)
    v1 = _v1_blueprint()
    app.register_blueprint(v1)
    # The operator console at / (session cookie + CSRF; bridge/console).
    from bridge.console import register as register_console

    register_console(app)
    _mount_mcp(app, settings)
    return app


def _mount_mcp(app: Flask, settings: Settings) -> None:
    """``/mcp``: the MCP server's streamable HTTP transport (bridge/agents/http.py), beside the API."""
    from bridge.agents.http import McpMount

    app.wsgi_app = McpMount(app, app.extensions["bridge"].storage, settings.public_url)  # type: ignore[method-assign]


def _v1_blueprint() -> Blueprint:
    """Every /v1 route requires an API token."""
    from flask import Blueprint

    from bridge.api import (
        accounts,
        audit,
        auth,
        events,
        messages,
        oauth,
        outbox,
        policy,
        reviews,
        stream,
        submit,
        suppressions,
        tokens,
        webhooks,
    )

    v1 = Blueprint("v1", __name__, url_prefix="/v1")
    v1.before_request(auth.require_token)
    v1.register_blueprint(accounts.bp)
    v1.register_blueprint(webhooks.bp)
    v1.register_blueprint(submit.bp)
    v1.register_blueprint(outbox.bp)
    v1.register_blueprint(messages.bp)
    v1.register_blueprint(stream.bp)
    v1.register_blueprint(events.bp)
    v1.register_blueprint(suppressions.bp)
    v1.register_blueprint(policy.bp)
    v1.register_blueprint(reviews.bp)
    v1.register_blueprint(audit.bp)
    v1.register_blueprint(oauth.bp)
    v1.register_blueprint(tokens.bp)
    return v1


if __name__ == "__main__":
    from bridge.runtime.cli import main

    raise SystemExit(main())
