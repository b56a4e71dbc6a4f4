"""A worker process ends when the process that started it ends.

``openkms serve --workers N`` is a supervisor process (uvicorn's) with N worker
processes that share its listening socket. If the supervisor is killed outright
(``kill -9``, the OOM killer), nothing tells the workers: they used to go on serving the
port, and the next ``openkms serve`` on that port failed with "Address already in use".

On Linux the worker asks the kernel for SIGTERM when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), and SIGTERM is uvicorn's graceful shutdown: the worker
stops accepting, finishes the requests in progress, flushes its audit records and
exits. The parent may already be gone when the worker makes that call, so the worker
then checks that its parent is still the process that started it. Elsewhere (no
``prctl``) a thread makes that check every :data:`WATCH_INTERVAL` seconds.

A worker's own audit writer process (openkms.server.audit_process) needs none of this:
it reads its records from a pipe only its worker holds open, sees the pipe close when
the worker dies, stores what it has read and exits.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

log = logging.getLogger("openkms.server")

#: ``prctl`` option: the signal this process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds between checks of the parent where the kernel cannot be asked.
WATCH_INTERVAL = 1.0


def end_with_parent(parent: int) -> None:
    """Get SIGTERM when ``parent`` (the pid of the process that started this one) ends,
    or at once if it has ended already."""
    if not _ask_kernel(signal.SIGTERM):
        threading.Thread(
            target=_watch, args=(parent,), name="openkms-parent-watch", daemon=True
        ).start()
    if os.getppid() != parent:  # died before the kernel was asked: we were re-parented
        log.warning("the server's parent process %d is gone; this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)


def _ask_kernel(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)``; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCH_INTERVAL):
        if os.getppid() != parent:
            log.warning("the server's parent process %d is gone; this worker stops", parent)
            os.kill(os.getpid(), signal.SIGTERM)
            return
