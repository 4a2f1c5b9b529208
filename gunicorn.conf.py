"""gunicorn settings for the web role (measured in ../shared/notes/test-infra.md § 8).

flask-sock holds one worker thread per open WebSocket, so the web role runs
the gthread worker with many threads; more processes scale REST, and events
reach WebSockets in every process through Redis.
"""

import os

bind = f"{os.environ.get('BRIDGE_HOST', '127.0.0.1')}:{os.environ.get('BRIDGE_PORT', '3000')}"
worker_class = "gthread"
workers = int(os.environ.get("BRIDGE_WEB_WORKERS", "2"))
threads = int(os.environ.get("BRIDGE_WEB_THREADS", "100"))
timeout = 30
graceful_timeout = 5  # WebSocket handlers never finish on their own
keepalive = 5
# One listening socket per worker (SO_REUSEPORT): the kernel spreads new connections evenly. With the
# shared socket the worker that wakes first accepts most of a burst of keep-alive clients, and one
# process (one GIL) served ~85% of the submits in bench/submit.py while the other idled.
reuse_port = True
control_socket_disable = True  # gunicorn 27 would otherwise create ~/.gunicorn/gunicorn.ctl
accesslog = None
errorlog = "-"
