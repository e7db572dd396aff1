"""Running one task, in a pool worker process, a thread, or a Ray worker.

As a script (`python _worker.py FD SLOT_FD`) this is the loop of a local pool's worker
process. Its first message is its setup: the caller's `sys.path`, its multiprocessing
authentication key (so that `multiprocessing.Manager()` proxies work in tasks), and the
pickled initializer, run once before any task. Then it reads batches of tasks from the
socket FD, runs them in order, and answers with one message of outcomes per batch.

The shared SLOT says which task runs: before each task the worker writes the task's id
there, so that if the process dies the pool knows which task killed it. The first task of
a batch starts at once; before each later one the worker takes the slot's lock (`lockf`,
which the pool takes to withdraw a task) and skips the task if the pool withdrew it
(cancelled, timed out) while it waited in the batch.

It imports only the standard library, cloudpickle and `wire`, not `cairn`: importing cairn
takes most of a second, and a worker that never touches tracking should start in tens of
milliseconds.
"""

from __future__ import annotations

import contextvars
import fcntl
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
RAISED, RETURNED, RESULT_NOT_PICKLABLE = range(3)  # how a task ended, as sent back
PARENT_CHECK_S = 0.5
MAX_FUNCTIONS = 256  # functions kept unpickled in a worker
MAX_BATCH = 64  # tasks in a batch, and so ids withdrawn from one
# The slot: the running task's id, how many ids were withdrawn, the withdrawn ids.
SLOT = struct.Struct("qq")
SLOT_BYTES = SLOT.size + 8 * MAX_BATCH
# A task's failure worth reporting: not KeyboardInterrupt, Ray's way of cancelling a task.
TASK_ERRORS = (Exception, SystemExit)

Outcome = tuple[bool, object]  # (True, value) or (False, (exception or None, traceback text))


def run_task(kind: int, payload: tuple, context: object, state: dict) -> Outcome:
    """Run a task and say how it went, never raising: `sys.exit()` in a task is its
    outcome, as in the standard pools."""
    try:
        if isinstance(context, contextvars.Context):  # a thread: the caller's active run
            return True, context.run(_execute, kind, payload, state)
        if context is not None:  # another process: open the caller's run here
            from cairn.compute.run_context import run_inside

            return True, run_inside(context, _execute, kind, payload, state)
        return True, _execute(kind, payload, state)
    except TASK_ERRORS as exc:
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


def initializer_failed(exc: BaseException) -> str:
    """Log a failed initializer where the standard pools do, and return its traceback."""
    import logging

    logging.getLogger("concurrent.futures").critical("Exception in initializer:", exc_info=exc)
    return traceback_text(exc)


def _execute(kind: int, payload: tuple, state: dict) -> object:
    if kind == CALL:
        fn, args, kwargs = payload
        return fn(*args, **kwargs)
    if kind == CHUNK:
        fn, items, retries = payload
        outcomes = []
        for args in items:  # inline: an item of a no-op map costs a fraction of a microsecond
            try:
                outcomes.append((True, fn(*args)))
            except TASK_ERRORS as exc:
                outcomes.append(_call_again(fn, args, retries, exc))
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
        from cairn.compute.errors import ActorConstructorFailed

        why = state.get("failed", "its constructor never reached this worker\n")
        raise ActorConstructorFailed(
            f"this actor was never created; its constructor failed:\n{why}"
        )
    return getattr(state["actor"], method)(*args, **kwargs)


def _call_again(fn: object, args: tuple, retries: int, exc: BaseException) -> Outcome:
    """An item of a map chunk that raised `exc`, called again up to `retries` times."""
    for _ in range(retries):
        try:
            return True, fn(*args)
        except TASK_ERRORS as again:
            exc = again
    return False, failure(exc)


def encode_outcome(outcome: Outcome) -> tuple[int, bytes, tuple]:
    ok, value = outcome
    try:
        return (RETURNED if ok else RAISED, *wire.dumps(value))
    except Exception as exc:
        return (RESULT_NOT_PICKLABLE, *wire.dumps(failure(exc)))
    except BaseException as exc:  # sys.exit() in a result's __reduce__: as if the task did it
        return (RAISED, *wire.dumps(failure(exc)))


def main(fd: int, slot_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    conn = Channel(socket.socket(fileno=fd))
    slot = mmap.mmap(slot_fd, SLOT_BYTES)
    path, authkey, initializer = pickle.loads(conn.recv())
    sys.path[:] = path  # import user modules as the caller does
    if authkey is not None:
        from multiprocessing import current_process

        current_process().authkey = authkey
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    if initializer is not None:
        try:
            function, args = pickle.loads(initializer)
            function(*args)
        except BaseException as exc:  # the pool breaks, as a standard pool does
            conn.send(pickle.dumps(initializer_failed(exc)))
            return
    state: dict = {}
    functions: dict[int, object] = {}
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the pool closed the socket: shut down
            return
        answer = _run_batch(pickle.loads(message), slot, slot_fd, state, functions)
        conn.send(pickle.dumps(answer, protocol=5))
        del message, answer  # nothing of a batch (its arguments, its results) is kept


def _run_batch(
    batch: list, slot: mmap.mmap, slot_fd: int, state: dict, functions: dict
) -> list[tuple]:
    """The outcomes of a batch's tasks, encoded: its arguments and results die with this call."""
    results = []
    for index, (task_id, kind, function, data, segments, context) in enumerate(batch):
        if index == 0:  # never withdrawn: its worker was idle, it counts as started
            struct.pack_into("q", slot, 0, task_id)
        elif not _claim(slot, slot_fd, task_id):
            continue  # withdrawn while it waited
        try:
            payload = wire.loads(data, segments)
            if function is not None:
                payload = (_load_function(*function, functions), *payload)
        except Exception as exc:
            outcome: Outcome = False, failure(exc)
        else:
            outcome = run_task(kind, payload, context, state)
        results.append((task_id, *encode_outcome(outcome)))
    return results


def _claim(slot: mmap.mmap, slot_fd: int, task_id: int) -> bool:
    """Mark `task_id` running unless the pool withdrew it; under the lock the pool takes."""
    fcntl.lockf(slot_fd, fcntl.LOCK_EX)
    try:
        _, withdrawn = SLOT.unpack_from(slot)
        if withdrawn and task_id in struct.unpack_from(f"{withdrawn}q", slot, SLOT.size):
            return False
        struct.pack_into("q", slot, 0, task_id)
        return True
    finally:
        fcntl.lockf(slot_fd, fcntl.LOCK_UN)


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
