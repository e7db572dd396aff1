"""Running one task, in a pool worker process, a thread, or a Ray worker.

As a script (`python _worker.py FD SLOT_FD`) this is the loop of a local pool's worker
process: it reads batches of tasks from the socket FD, runs them in order, and answers
with one message of outcomes per batch. Before each task it writes the task's id to the
shared 8-byte SLOT, so that if the process dies the pool knows which task killed it.

It imports only the standard library, cloudpickle and `wire`, not `cairn`: importing cairn
takes most of a second, and a worker that never touches tracking should start in tens of
milliseconds.
"""

from __future__ import annotations

import contextvars
import mmap
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import traceback

import cloudpickle

if __package__:
    from cairn.compute import wire
    from cairn.compute.channel import Channel
else:  # run as a script: this file's folder is sys.path[0] until main() replaces it
    import wire
    from channel import Channel

CALL, CHUNK, NEW_ACTOR, ACTOR_CALL = range(4)
PARENT_CHECK_S = 0.5
MAX_FUNCTIONS = 256  # functions kept unpickled in a worker

Outcome = tuple[bool, object]  # (True, value) or (False, (exception or None, traceback text))


def run_task(kind: int, payload: tuple, context: object, state: dict) -> Outcome:
    """Run a task and say how it went, never raising (except to leave the process)."""
    try:
        if isinstance(context, contextvars.Context):  # a thread: the caller's active run
            return True, context.run(_execute, kind, payload, state)
        if context is not None:  # another process: open the caller's run here
            from cairn.compute.tracking import run_inside

            return True, run_inside(context, _execute, kind, payload, state)
        return True, _execute(kind, payload, state)
    except Exception as exc:
        return False, failure(exc)


def failure(exc: BaseException) -> tuple[BaseException | None, str]:
    """An exception with its traceback as text, both safe to pickle."""
    text = traceback_text(exc)
    try:
        pickle.loads(cloudpickle.dumps(exc))
    except Exception:  # the text is all the caller gets
        return None, text
    return exc.with_traceback(None), text


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _execute(kind: int, payload: tuple, state: dict) -> object:
    if kind == CALL:
        fn, args, kwargs = payload
        return fn(*args, **kwargs)
    if kind == CHUNK:
        fn, items = payload
        outcomes = []
        for args in items:
            try:
                outcomes.append((True, fn(*args)))
            except Exception as exc:
                outcomes.append((False, failure(exc)))
        return outcomes
    if kind == NEW_ACTOR:
        cls, args, kwargs = payload
        try:
            state["actor"] = cls(*args, **kwargs)
        except Exception as exc:
            state["failed"] = traceback_text(exc)
            raise
        return None
    method, args, kwargs = payload
    if "actor" not in state:
        why = state.get("failed", "its constructor never reached this worker\n")
        raise RuntimeError(f"this actor was never created; its constructor failed:\n{why}")
    return getattr(state["actor"], method)(*args, **kwargs)


def encode_outcome(outcome: Outcome) -> tuple[bool, bytes, tuple]:
    ok, value = outcome
    try:
        return (ok, *wire.dumps(value))
    except Exception as exc:
        error = TypeError(f"the task's result could not be pickled: {exc}")
        return (False, *wire.dumps(failure(error)))


def main(fd: int, slot_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    conn = Channel(socket.socket(fileno=fd))
    slot = mmap.mmap(slot_fd, 8)
    sys.path[:] = pickle.loads(conn.recv())  # import user modules as the caller does
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    state: dict = {}
    functions: dict[int, object] = {}
    while True:
        try:
            batch = pickle.loads(conn.recv())
        except EOFError:  # the pool closed the socket: shut down
            return
        results = []
        for task_id, kind, function, data, segments, context in batch:
            struct.pack_into("q", slot, 0, task_id)
            try:
                payload = wire.loads(data, segments)
                if function is not None:
                    payload = (_load_function(*function, functions), *payload)
            except Exception as exc:
                outcome: Outcome = False, failure(exc)
            else:
                outcome = run_task(kind, payload, context, state)
            results.append((task_id, *encode_outcome(outcome)))
        conn.send(pickle.dumps(results, protocol=5))


def _load_function(number: int, data: bytes, loaded: dict[int, object]) -> object:
    """The function pickled as `data` (the caller's pickle number `number`), unpickled once
    per worker."""
    fn = loaded.get(number)
    if fn is None:
        if len(loaded) >= MAX_FUNCTIONS:
            loaded.clear()
        fn = loaded[number] = pickle.loads(data)
    return fn


def _exit_with_parent(parent: int) -> None:
    # A worker busy in a task does not read its socket, so it would not see the pool go.
    event = threading.Event()
    while not event.wait(PARENT_CHECK_S):
        if os.getppid() != parent:
            os._exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
