"""Unauthenticated meta routes: health, the OpenAPI document and its interactive reference (/docs).

/docs is Swagger UI from the flask-swagger-ui wheel, whose ``dist/`` folder is the
Swagger UI release files; only those files are used (not its blueprint), served from
here so the page needs no other host, and under a Content-Security-Policy that
forbids asking one.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui  # type: ignore[import-untyped]  # only its packaged dist/ folder is used
from flask import Blueprint, Response, current_app, jsonify, render_template, send_from_directory

from bridge import __version__, jobs
from bridge.api.openapi import build_spec, endpoint
from bridge.api.services import services
from bridge.errors import BridgeError, NotFound
from bridge.metrics.model import eviction_warning
from bridge.schemas.common import ComponentHealth, Health

bp = Blueprint("meta", __name__)

# A watcher heartbeats every few seconds; three missed beats mean it is gone.
WATCHER_MAX_AGE_S = 30.0


@endpoint(
    bp,
    "/health",
    "GET",
    summary="Health of the bridge and its dependencies",
    response=Health,
    auth=False,
    errors=(503,),
    description="200 when Redis answers; 503 when it does not. ``warnings`` lists what works now but may "
    "lose data later, such as a Redis maxmemory-policy that may evict keys.",
)
def health() -> tuple[Health, int]:
    storage = services().storage
    try:
        storage.ping()
        workers = jobs.worker_count(storage.redis)
        watchers = len(storage.processes.live("watcher", WATCHER_MAX_AGE_S))
        memory = storage.metrics.memory()
    except BridgeError as exc:
        down = ComponentHealth(ok=False, detail="unknown: Redis is unreachable")
        return Health(
            status="unavailable",
            version=__version__,
            redis=ComponentHealth(ok=False, detail=exc.message),
            workers=down,
            watchers=down,
        ), 503
    return Health(
        status="ok",
        version=__version__,
        redis=ComponentHealth(ok=True),
        workers=ComponentHealth(ok=workers > 0, count=workers),
        watchers=ComponentHealth(ok=watchers > 0, count=watchers),
        warnings=[w for w in [eviction_warning(memory.policy, memory.maxmemory)] if w],
    ), 200


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(_spec())


SWAGGER_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
OWN_ASSETS = Path(__file__).parent / "static"
# The files /docs uses, and where each comes from; nothing else under /docs/assets/ exists.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": SWAGGER_DIST,
    "swagger-ui.css": SWAGGER_DIST,
    "index.css": SWAGGER_DIST,
    "favicon-32x32.png": SWAGGER_DIST,
    "LICENSE": SWAGGER_DIST,
    "docs.js": OWN_ASSETS,
}
# Same-origin only. Swagger UI styles elements inline and shows data: images; it needs no eval.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@bp.get("/docs")
def docs() -> Response:
    version = (SWAGGER_DIST / "VERSION").read_text().strip()
    response = Response(render_template("meta/docs.html", spec=_spec(), swagger_version=version))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/assets/<name>")
def docs_asset(name: str) -> Response:
    folder = DOCS_ASSETS.get(name)
    if folder is None:
        raise NotFound(f"no docs asset {name!r}")
    # Versioned with the package: a day of caching saves the 1.6 MB bundle on every visit.
    return send_from_directory(folder, name, max_age=86400)


def _spec() -> dict[str, object]:
    cached: dict[str, object] | None = current_app.extensions.get("bridge.openapi")
    if cached is None:
        cached = current_app.extensions["bridge.openapi"] = build_spec(current_app)
    return cached
