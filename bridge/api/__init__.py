"""The HTTP API: Flask blueprints (one per resource), the JSON error handlers, OpenAPI and the gunicorn worker.

The only package that imports flask-sock, Werkzeug and gunicorn, and with ``bridge.console`` (the
operator console's pages) the only one that imports Flask. Views parse and validate
(``bridge.schemas``), call storage or one orchestration function, and answer; errors are
``BridgeError``s turned into the JSON error body in ``errors``.
May import: schemas, storage, jobs, accounts, events, inbound.records, mail, mailbox.client,
mailbox.protocol, metrics, oauth, outbound, review, webhooks.delivery, webhooks.dispatcher.
Purity: none
"""
