"""Request and response models of the HTTP API, declared once (pydantic v2).

Pure: no Flask, no Redis. The API validates bodies with these models and the
OpenAPI document is generated from them, so the docs cannot drift from the
code. JSON is camelCase; Python attributes are snake_case (alias generator).

May import: the pure packages only: compose, events.model, mail, oauth.presets, policy,
senderauth.dmarc, webhooks.delivery, webhooks.ssrf.
Purity: all
"""
