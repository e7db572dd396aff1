"""The `local` backend: a pool of persistent worker processes on this machine.

Each worker is a fresh interpreter running `_worker.py` (not a fork: the caller's threads
and locks stay behind), joined to the caller by a socket pair. Tasks travel pickled with
cloudpickle, so lambdas and closures work; large NumPy buffers travel through shared memory.
"""

from __future__ import annotations

import contextlib
import mmap
import pickle
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from cairn.compute import _worker, wire
from cairn.compute.channel import Channel
from cairn.compute.pickled_functions import PickledFunctions
from cairn.compute.pool import Pool
from cairn.compute.pooled import PoolExecutor
from cairn.compute.task import Task, unpicklable

WORKER_SCRIPT = str(Path(_worker.__file__).resolve())
STOP_TIMEOUT_S = 10


class ProcessWorker:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._stopping = False
        ours, theirs = socket.socketpair()
        with tempfile.TemporaryFile(dir=wire.SHM_DIR) as slot_file:
            slot_file.truncate(8)
            self._slot = mmap.mmap(slot_file.fileno(), 8)
            self.process = subprocess.Popen(
                [sys.executable, WORKER_SCRIPT, str(theirs.fileno()), str(slot_file.fileno())],
                pass_fds=(theirs.fileno(), slot_file.fileno()),
                stdin=subprocess.DEVNULL,
            )
        theirs.close()
        self._socket = ours
        self._tasks = Channel(ours)
        self._replies = Channel(ours.dup())  # the reader's own, closed when it is done
        self._send_lock = threading.Lock()
        self._tasks.send(pickle.dumps(sys.path))
        threading.Thread(
            target=self._read, name=f"cairn-worker-{self.process.pid}", daemon=True
        ).start()

    def send(self, batch: list[Task]) -> None:
        message = [(t.id, t.kind, t.function, t.data, t.segments, t.context) for t in batch]
        data = pickle.dumps(message, protocol=5)
        with self._send_lock:
            self._tasks.send(data)

    def running_task_id(self) -> int:
        return struct.unpack_from("q", self._slot)[0]

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self.process.wait()  # reaped now: no zombie is left for the caller to count

    def stop(self) -> None:
        """Ask the worker to exit once idle, and wait for it (killing it if it hangs)."""
        self._stopping = True
        with contextlib.suppress(OSError):  # already gone
            self._socket.shutdown(socket.SHUT_WR)  # the worker reads EOF and returns
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
        self._socket.close()

    def _signal(self, signum: int) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def _read(self) -> None:
        try:
            while True:
                results = [self._decode(*result) for result in pickle.loads(self._replies.recv())]
                self._pool.on_results(self, results)
        except (EOFError, OSError):
            pass
        finally:
            self._replies.close()
        code = self.process.wait()
        wire.unlink_left_by(self.process.pid)  # every result it sent has been loaded
        if not self._stopping:
            self._pool.on_lost(self, _describe_exit(self.process.pid, code))

    @staticmethod
    def _decode(task_id: int, ok: bool, data: bytes, segments: tuple) -> tuple:
        try:
            return task_id, ok, wire.loads(data, segments, unlink_after=True)
        except Exception as exc:  # e.g. a module the worker had and the caller has not
            wire.unlink(segments)
            return task_id, False, _worker.failure(exc)


class LocalExecutor(PoolExecutor):
    def __init__(self, url: str = "local", workers: int | None = None) -> None:
        super().__init__(url, workers, ProcessWorker)
        self._functions = PickledFunctions()

    def _prepare(self, task: Task) -> None:
        try:
            if task.kind == _worker.CALL:
                task.function = self._functions.pickle_of(task.payload[0])
            payload = task.payload if task.function is None else task.payload[1:]
            task.data, task.segments = wire.dumps(payload)
        except Exception as exc:
            raise unpicklable(task, exc) from exc


def _describe_exit(pid: int, code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory, or killed)" if -code == signal.SIGKILL else ""
        return f"(pid {pid}) died from {name}{hint}"
    return f"(pid {pid}) exited with code {code}"


def create(url: str, workers: int | None) -> LocalExecutor:
    return LocalExecutor(url, workers)
