"""The `local` backend: a pool of persistent worker processes on this machine.

Each worker is a fresh interpreter running `_worker.py` (not a fork: the caller's threads
and locks stay behind), joined to the caller by a socket pair. Tasks travel pickled with
cloudpickle, so lambdas and closures work; large NumPy buffers travel through shared memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import mmap
import multiprocessing
import pickle
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Collection
from pathlib import Path

import cloudpickle

from cairn.compute import _worker, wire
from cairn.compute.channel import Channel
from cairn.compute.errors import NotPicklable
from cairn.compute.pickled_functions import PickledFunctions
from cairn.compute.pool import Pool
from cairn.compute.pool_executor import PoolExecutor
from cairn.compute.task import Task, not_picklable

WORKER_SCRIPT = str(Path(_worker.__file__).resolve())
STOP_TIMEOUT_S = 10


class ProcessWorker:
    def __init__(self, pool: Pool, initializer: bytes | None) -> None:
        self._pool = pool
        self._stopping = False
        self._withdrew = False  # since the last batch was sent
        ours, theirs = socket.socketpair()
        # Kept open: the lock the worker and the pool take on it is held through this file.
        self._slot_file = tempfile.TemporaryFile(dir=wire.SHM_DIR)  # noqa: SIM115
        self._slot_file.truncate(_worker.SLOT_BYTES)
        self._slot = mmap.mmap(self._slot_file.fileno(), _worker.SLOT_BYTES)
        self.process = subprocess.Popen(
            [sys.executable, WORKER_SCRIPT, str(theirs.fileno()), str(self._slot_file.fileno())],
            pass_fds=(theirs.fileno(), self._slot_file.fileno()),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._socket = ours
        self._tasks = Channel(ours)
        self._replies = Channel(ours.dup())  # the reader's own, closed when it is done
        self._send_lock = threading.Lock()
        authkey = bytes(multiprocessing.current_process().authkey)
        self._tasks.send(pickle.dumps((sys.path, authkey, initializer)))
        self._reader = threading.Thread(
            target=self._read, name=f"cairn-worker-{self.process.pid}", daemon=True
        )
        self._reader.start()

    def prepare(self) -> None:
        if self._withdrew:  # idle: it reads nothing until the batch
            struct.pack_into("q", self._slot, 8, 0)
            self._withdrew = False

    def send(self, batch: list[Task]) -> None:
        message = [(t.id, t.kind, t.function, t.data, t.segments, t.context) for t in batch]
        data = pickle.dumps(message, protocol=5)
        with self._send_lock:
            self._tasks.send(data)

    def withdraw(self, task_id: int, from_here: Collection[int]) -> bool:
        fd = self._slot_file.fileno()
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            running, withdrawn = _worker.SLOT.unpack_from(self._slot)
            if running in from_here:
                return False
            struct.pack_into("q", self._slot, _worker.SLOT.size + 8 * withdrawn, task_id)
            struct.pack_into("q", self._slot, 8, withdrawn + 1)
            self._withdrew = True
            return True
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    def running_task_id(self) -> int:
        return struct.unpack_from("q", self._slot)[0]

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self.process.wait()  # reaped now: no zombie is left for the caller to count

    def stop(self) -> None:
        """Ask the worker to exit once idle, and wait for it (killing it if it hangs) and for
        its reader, so that nothing of it is left when this returns."""
        self._stopping = True
        with contextlib.suppress(OSError):  # already gone
            self._socket.shutdown(socket.SHUT_WR)  # the worker reads EOF and returns
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        if self._reader is not threading.current_thread():
            self._reader.join()

    def _signal(self, signum: int) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def _read(self) -> None:
        try:
            while True:
                message = pickle.loads(self._replies.recv())
                if isinstance(message, str):  # the traceback of its initializer, which failed
                    self._pool.on_broken(self, message)
                else:
                    self._pool.on_results(self, [self._decode(*result) for result in message])
                del message  # its values are not kept here once handed over
        except (EOFError, OSError):
            pass
        finally:
            self._replies.close()
        code = self.process.wait()
        wire.unlink_left_by(self.process.pid)  # every result it sent has been loaded
        if not self._stopping:
            self._pool.on_lost(self, _describe_exit(self.process.pid, code))
        # After the pool has let go of it: until then it may read the slot.
        self._socket.close()
        self._slot.close()
        self._slot_file.close()

    @staticmethod
    def _decode(task_id: int, how: int, data: bytes, segments: tuple) -> tuple:
        try:
            value = wire.loads(data, segments, unlink_after=True)
        except BaseException as exc:  # e.g. a module the worker had and the caller has not
            wire.unlink(segments)
            return task_id, False, _worker.failure(exc)
        if how == _worker.RESULT_NOT_PICKLABLE:
            cause, text = value
            error = NotPicklable(f"the task's result could not be pickled: {cause}")
            return task_id, False, (error, text)
        return task_id, how == _worker.RETURNED, value


class LocalExecutor(PoolExecutor):
    def __init__(
        self,
        url: str = "local",
        workers: int | None = None,
        initializer: Callable | None = None,
        initargs: tuple = (),
    ) -> None:
        setup = None
        if initializer is not None:
            try:
                setup = cloudpickle.dumps((initializer, tuple(initargs)))
            except Exception as exc:
                raise NotPicklable(
                    f"the initializer or its arguments cannot be pickled: {exc}"
                ) from exc
        super().__init__(url, workers, functools.partial(ProcessWorker, initializer=setup))
        self._functions = PickledFunctions()

    def _prepare(self, task: Task) -> None:
        try:
            if task.kind == _worker.CALL:
                task.function = self._functions.pickle_of(task.payload[0])
            payload = task.payload if task.function is None else task.payload[1:]
            task.data, task.segments = wire.dumps(payload)
        except Exception as exc:
            raise not_picklable(task, exc) from exc


def _describe_exit(pid: int, code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory, or killed)" if -code == signal.SIGKILL else ""
        return f"(pid {pid}) died from {name}{hint}"
    return f"(pid {pid}) exited with code {code}"


def create(
    url: str, workers: int | None, initializer: Callable | None = None, initargs: tuple = ()
) -> LocalExecutor:
    return LocalExecutor(url, workers, initializer, initargs)
