"""RQ queues are built fresh for each enqueue (bridge.jobs.queue): that must stay cheap."""

from __future__ import annotations

from bridge import jobs


def _info_calls(connection) -> int:
    return int(connection.info("commandstats").get("cmdstat_info", {}).get("calls", 0))


def test_fresh_queue_objects_cost_one_info_per_connection_not_one_each(redis_client):
    # rq caches the server version on the connection; bridge.jobs relies on it instead of keeping Queue objects.
    jobs.queue("default", redis_client).enqueue("workers.review.sweep_reviews", True, result_ttl=0)
    before = _info_calls(redis_client)
    for _ in range(20):
        jobs.enqueue_review_sweep(redis_client, 0)
    assert _info_calls(redis_client) - before == 1  # the INFO that read the count
