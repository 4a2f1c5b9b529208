"""The HTTP API: Flask blueprints (one per resource), the JSON error handlers, OpenAPI and the gunicorn worker.

The only package that imports Flask, flask-sock, Werkzeug and gunicorn. Views parse and validate
(``bridge.schemas``), call storage or one orchestration function, and answer; errors are
``BridgeError``s turned into the JSON error body in ``errors``.
Purity: none
"""
