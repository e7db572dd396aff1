"""Task functions for the compute tests, and sockets to coordinate with running tasks.

A task signals that it started by connecting to a `Mailbox` and sending a line; it blocks
on a `Gate` until the test opens it. No sleeps: the test waits on sockets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import Future
from pathlib import Path

import cairn
import cairn.compute


class Mailbox:
    """Tasks `post(port, text)`; the test `receive()`s one message per task."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._server.getsockname()[1]

    def receive(self, timeout: float = 60) -> str | None:
        self._server.settimeout(timeout)
        try:
            conn, _ = self._server.accept()
        except TimeoutError:
            return None
        with conn, conn.makefile() as lines:
            return lines.readline().strip()

    def close(self) -> None:
        self._server.close()


class Gate:
    """Tasks `wait_gate(port)` until the test calls `open()` (the listener closes)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self._server.getsockname()[1]

    def open(self) -> None:
        self._server.close()  # resets every waiting connection; new ones are refused


def post(port: int, text: str) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(f"{text}\n".encode())


def wait_gate(port: int) -> None:
    try:
        conn = socket.create_connection(("127.0.0.1", port))
    except ConnectionRefusedError:
        return
    with conn, contextlib.suppress(ConnectionResetError):
        conn.recv(1)


def square(x: int) -> int:
    return x * x


def add(x: int, y: int) -> int:
    return x + y


def explode(message: str) -> None:
    raise ValueError(message)


class Unpicklable(Exception):
    """An exception holding a lock: it cannot travel back from a worker."""

    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def make_error(message: str) -> ValueError:
    return ValueError(message)


def count_up(n: int):  # a generator function: Ray would make it a streaming task
    yield from range(n)


def raise_unpicklable() -> None:
    raise Unpicklable()


def _load_unless_in(pid: int) -> str:
    if os.getpid() == pid:
        raise ImportError("this object cannot be loaded in the caller")
    return "loaded"


class LoadsOnlyElsewhere:
    """Pickles anywhere; unpickling fails in process `pid` (the caller)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __reduce__(self) -> tuple:
        return _load_unless_in, (self.pid,)


def make_unloadable(caller_pid: int) -> LoadsOnlyElsewhere:
    return LoadsOnlyElsewhere(caller_pid)


def occupy_both_workers(ex: cairn.compute.Executor, mailbox: Mailbox, gate: Gate) -> list[Future]:
    """Two tasks that hold the two workers until the gate opens; returns once both run."""
    blockers = [ex.submit(announce_and_wait, mailbox.port, gate.port) for _ in range(2)]
    assert mailbox.receive() and mailbox.receive()
    return blockers


def announce_and_wait(mailbox: int, gate: int, label: str = "") -> int:
    post(mailbox, f"{label}{os.getpid()}")
    wait_gate(gate)
    return os.getpid()


def ones(n: int) -> object:
    import numpy as np

    return np.ones(n)


def kill_own_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def exit_with(code: int) -> None:
    sys.exit(code)


class Broken:
    def __init__(self) -> None:
        raise ValueError("broken on purpose")

    def get(self) -> int:
        return 1


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def fail_times(counter: str, failures: int) -> int:
    """Fails on the first `failures` calls (counted in a file), then returns the call count."""
    path = Path(counter)
    with path.open("a") as f:
        f.write("x\n")
    calls = len(path.read_text().splitlines())
    if calls <= failures:
        raise RuntimeError(f"failure {calls}")
    return calls


class Counter:
    def __init__(self, start: int = 0) -> None:
        self.value = start
        self.pid = os.getpid()

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value

    def where(self) -> int:
        return self.pid


def log_from_task(index: int) -> str:
    """Logs into the caller's run and into a child run of it; returns the child's id."""
    cairn.active_run().log({f"from_task_{index}": float(index)}, step=0)
    with cairn.start_run(f"child-{index}") as child:
        for step in range(100):
            child.log({"loss": 1.0 / (step + 1)}, step=step)
    return child.id


def append_line(path: str, text: str) -> str:
    with open(path, "a") as f:
        f.write(f"{text}\n")
    return text


class Blob:
    """A large result that can be watched with a weak reference."""

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)


def make_blob(size: int) -> Blob:
    return Blob(size)


def blob_size(blob: Blob) -> int:
    return len(blob.data)


class SetsEventWhenCollected:
    """Holds a `multiprocessing.Manager()` Event, set when this object is collected (in
    whichever process it is then)."""

    def __init__(self, manager: object) -> None:
        self.event = manager.Event()

    def __del__(self) -> None:
        self.event.set()


def put(mapping: object, key: str, value: object) -> None:
    mapping[key] = value


INITIALIZED = "not initialized"


def initialize(value: str) -> None:
    global INITIALIZED
    INITIALIZED = value


def initialized() -> str:
    return INITIALIZED


def fail_to_initialize() -> None:
    raise ValueError("initializer failed on purpose")


def pid_of(_: object) -> int:
    return os.getpid()


def worker_pids() -> set[int]:
    """This process's local-pool workers (Ray's own processes come and go on their own)."""
    import psutil

    from cairn.compute.local import WORKER_SCRIPT

    pids = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):  # gone, or a zombie of Ray's
            if WORKER_SCRIPT in " ".join(child.cmdline()):
                pids.add(child.pid)
    return pids


def wait_and_print(gate: int, text: str) -> None:
    """Waits for the gate, then prints `text` on the worker's stdout (the caller's)."""
    wait_gate(gate)
    print(text, flush=True)


def start_python(script: str, *flags: str) -> subprocess.Popen:
    """`script` (dedented) in a fresh interpreter at the repository's root, as a user's
    script would run; its output is captured as text."""
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, *flags, "-c", textwrap.dedent(script)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_python(script: str, *flags: str) -> tuple[str, str]:
    """`start_python`, to its end: its stdout and stderr; it must succeed."""
    process = start_python(script, *flags)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return out, err
