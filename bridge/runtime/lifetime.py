"""Child processes that end with their parent, however the parent ends (SIGKILL and OOM included).

Two kinds of child, two mechanisms:

- a program we exec (redis-server, the roles of ``app.py run``): ``dies_with_parent()``
  prefixes its command with ``setpriv --pdeathsig TERM``, so the kernel signals it when
  the parent goes. Start those from the main thread: the kernel sends the signal when
  the *thread* that forked the child ends, not the process.
- a Python process that multiprocessing spawns (the watcher's analysis workers): it
  calls ``exit_with_parent(pid)`` first thing. A thread in it polls ``os.getppid()`` and
  ends the process once the parent is gone (the child is reparented). Not PDEATHSIG:
  ProcessPoolExecutor starts its processes from whichever thread submits first, and a
  pool thread that ends would take the workers with it while the watcher lives on.

multiprocessing's resource tracker needs neither: it exits when the last process that
holds its pipe (the parent and the workers) is gone.
"""

from __future__ import annotations

import os
import shutil
import threading
import time

POLL_S = 0.5


def dies_with_parent() -> list[str]:
    """Command prefix that has the kernel SIGTERM the child when this process dies, however it dies.

    ``setpriv --pdeathsig`` (util-linux, on every Debian/Ubuntu); without it, nothing.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def exit_with_parent(parent_pid: int, poll_s: float = POLL_S) -> None:
    """End this process (exit status 1) within ``poll_s`` of process ``parent_pid`` ending.

    Args:
        parent_pid: the pid of the process that started this one, as it knew its own pid;
            if the parent died before this call, the process ends at once.
        poll_s: how often to look.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)  # nobody is left to hand results to; skip atexit and pool shutdown

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
