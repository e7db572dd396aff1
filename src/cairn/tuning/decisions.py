"""The tuner's side of `trial.report`: a loopback listener that answers "stop?" per report.

Trials run in worker processes, threads or Ray workers; the pruner lives with the sampler
in the tuner, because it compares each report with every other trial's. A trial connects
on its first report and sends (number, step, value); the answer is one boolean. The key is
random per study, so nothing else on the machine can talk to the listener.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener

Decide = Callable[[int, int, float], bool]


class DecisionServer:
    def __init__(self, decide: Decide, host: str = "127.0.0.1") -> None:
        self._decide = decide
        self._key = secrets.token_bytes(32)
        self._listener = Listener((host, 0), authkey=self._key)
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._accept, name="cairn-tune-decisions")
        self._thread.daemon = True
        self._thread.start()

    @property
    def address(self) -> tuple[tuple[str, int], bytes]:
        """What a trial needs to connect: the address and the key."""
        return self._listener.address, self._key

    def close(self) -> None:
        self._closing = True
        # accept() is not woken by closing its socket from another thread; a connection is.
        Client(self._listener.address, authkey=self._key).close()
        self._thread.join()
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                connection.close()

    def _accept(self) -> None:
        while True:
            try:
                connection = self._listener.accept()
            except (OSError, EOFError, AuthenticationError):  # a peer failed the handshake
                if self._closing:
                    return
                continue
            if self._closing:
                connection.close()
                return
            with self._lock:
                self._connections.add(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        try:
            while True:
                number, step, value = connection.recv()
                connection.send(bool(self._decide(number, step, value)))
        except (EOFError, OSError):
            pass
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()
