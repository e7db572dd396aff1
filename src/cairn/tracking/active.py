"""Which runs are open in this process, and ending them when the process ends.

Runs nest: a run started while another is open becomes its child. The stack is per
context (thread or task), the set of open runs per process. A normal exit finishes open
runs, an uncaught exception fails them; SIGTERM flushes them and marks them killed before
the process goes.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING

from cairn.states import RunStatus

if TYPE_CHECKING:
    from cairn.tracking.run import Run

log = logging.getLogger(__name__)

_stack: contextvars.ContextVar[tuple[Run, ...]] = contextvars.ContextVar("cairn_runs", default=())
_open: dict[str, Run] = {}
# Re-entrant: the SIGTERM handler runs on the main thread, maybe while that thread holds it
# (or while an earlier SIGTERM's handler does), and ends runs, which takes it again.
_lock = threading.RLock()
_handlers_installed = False


def current() -> Run | None:
    """The innermost open run of this thread (or task), if any."""
    stack = _stack.get()
    return stack[-1] if stack else None


def push(run: Run) -> None:
    track(run)
    _stack.set((*_stack.get(), run))


def track(run: Run) -> None:
    """End `run` with this process, without making it the active run."""
    _install_handlers()
    with _lock:
        _open[run.id] = run


def forget(run: Run) -> None:
    _stack.set(tuple(r for r in _stack.get() if r is not run))
    with _lock:
        _open.pop(run.id, None)


def end_all(status: RunStatus, error: str | None = None) -> None:
    """End open runs, children before their parents."""
    with _lock:
        runs = list(_open.values())
    for run in reversed(runs):
        try:
            run.end(status, error)
        except Exception as exc:  # one run's store being gone must not keep the others open
            log.warning("cairn could not end run %s: %s", run.id, exc)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(end_all, RunStatus.FINISHED)
    previous_hook = sys.excepthook

    def on_uncaught(kind, exc, tb) -> None:  # a run started without `with` still fails
        end_all(RunStatus.FAILED, "".join(traceback.format_exception(kind, exc, tb)))
        previous_hook(kind, exc, tb)

    sys.excepthook = on_uncaught
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: object) -> None:
        end_all(RunStatus.KILLED, "terminated by SIGTERM")
        if callable(previous):
            previous(signum, frame)
        else:
            sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
