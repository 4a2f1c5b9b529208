"""gunicorn settings for the web role.

flask-sock holds one worker thread per open WebSocket, so the web role runs
the gthread worker (bridge.api.server) with many threads; more processes scale REST, and events
reach WebSockets in every process through Redis.
"""

import os

bind = f"{os.environ.get('BRIDGE_HOST', '127.0.0.1')}:{os.environ.get('BRIDGE_PORT', '3000')}"
# gunicorn's gthread worker, with the server's own errors (414, 431, 400 …) as the API's JSON error
# body and glibc's mmap threshold pinned so large request buffers go back to the OS; see the module.
worker_class = "bridge.api.server.JsonErrorWorker"
# Two processes per core: connections are pinned to a process (keep-alive, SO_REUSEPORT below) and the
# kernel spreads them by hash, so with one process per core a 6-of-8 split left one GIL with three
# quarters of the work. bench/submit.py, 2 cores, 4 runs each: 2 processes 419-771 submits/s
# (median ~585), 4 processes 685-869 (median ~764).
workers = int(os.environ.get("BRIDGE_WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
threads = int(os.environ.get("BRIDGE_WEB_THREADS", "100"))
timeout = 30
graceful_timeout = 5  # WebSocket handlers never finish on their own
keepalive = 5
# One listening socket per worker (SO_REUSEPORT): the kernel spreads new connections by hash. With the
# shared socket the worker that wakes first accepts most of a burst of keep-alive clients, and one
# process (one GIL) served ~85% of the submits in bench/submit.py while the other idled.
reuse_port = True
control_socket_disable = True  # gunicorn 27 would otherwise create ~/.gunicorn/gunicorn.ctl
accesslog = None
errorlog = "-"


def post_fork(server, worker):  # type: ignore[no-untyped-def]  # gunicorn's hook signature
    """End each worker within half a second of its arbiter dying (SIGKILL, OOM), not gunicorn's 6-8 s.

    gunicorn's workers notice a changed parent only on their next 1 s tick and then wait out
    graceful_timeout for their requests; with no arbiter nobody will replace or reap them, so the
    requests they still hold are lost either way.
    """
    from bridge.runtime.lifetime import exit_with_parent

    exit_with_parent(server.pid)
