"""Webhook delivery: subscriptions, signing, SSRF checks, the HTTP client and its fair thread pool.

- ``delivery``    pure: subscriptions, deliveries, attempts, verdicts, the retry policy.
- ``signing``     pure: Standard Webhooks signatures.
- ``ssrf``        pure: which destination addresses are refused in production.
- ``lanes``       a fair thread pool (work queued per key).
- ``dispatcher``  the only module that imports httpx/httpcore for webhooks: resolve, vet, sign, POST, record.

May import: events.model, storage, jobs, models, clock (the dispatcher is built by its process and passed to emit).
Purity: delivery, signing, ssrf
"""
