"""``GET /metrics``: Prometheus text format, for a token with the ``metrics`` scope.

Outside ``/v1`` because that is where scrapers look, but behind the same token check:
the numbers name no account, yet queue depths and failure rates say enough about an
installation to keep them from strangers. Give the scraper a token with only the
``metrics`` scope (``app.py token create --scope metrics``) and set it as the scrape
job's bearer token (Prometheus ``authorization: {credentials_file: …}``).
"""

from __future__ import annotations

from flask import Blueprint, Response

from bridge.api import auth
from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.metrics import exposition
from bridge.models import TokenScope

bp = Blueprint("metrics", __name__)
bp.before_request(auth.require_token)


@endpoint(
    bp,
    "/metrics",
    "GET",
    summary="Metrics in Prometheus text format",
    raw_response="text/plain",
    scope=TokenScope.METRICS,
    errors=(503,),
    description="Accounts by state, events emitted, webhook attempts and their latency, queue depths, sends, "
    "pending reviews, IDLE push to event latency and Redis memory, for the whole installation "
    "(every process counts into Redis). 503 when Redis is unreachable.",
)
def metrics() -> Response:
    return Response(exposition.render(services().storage), content_type=exposition.CONTENT_TYPE)
