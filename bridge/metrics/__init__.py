"""Operational metrics: what is counted, ``/metrics`` in Prometheus text format, the console's recent activity.

The numbers live in Redis (``bridge.storage.metrics``), not in process memory: events are
emitted by gunicorn workers, the RQ worker and the watcher, possibly on different hosts, and
any web process must answer for all of them. Counters and histograms are bumped where things
happen (one pipelined round trip per observation); gauges (accounts by state, queue depths,
pending reviews, Redis memory) are read from Redis when scraped. README, "Metrics", says why
this beats prometheus_client's multiprocess mode here.

- ``model``: metric names, label values, histogram buckets and the per-minute window (pure).
- ``exposition``: the prometheus_client collector behind ``GET /metrics`` (the only importer
  of prometheus_client).
- ``recent``: ``recent_activity(storage, now)``, the last hour per minute (events per minute,
  webhook attempts and success rate) for the console's charts; no PromQL needed.

May import: events.model, storage, jobs.
Purity: model
"""
