"""Unauthenticated meta routes: health, the OpenAPI document and its docs page."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template

from bridge import __version__, jobs
from bridge.api.openapi import build_spec, endpoint
from bridge.api.services import services
from bridge.errors import BridgeError
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


@bp.get("/docs")
def docs() -> str:
    return render_template("meta/docs.html", spec=_spec())


def _spec() -> dict[str, object]:
    cached: dict[str, object] | None = current_app.extensions.get("bridge.openapi")
    if cached is None:
        cached = current_app.extensions["bridge.openapi"] = build_spec(current_app)
    return cached
