"""The tuner's side of `trial.report`: a listener that answers "stop?" per report.

Trials run in worker processes, threads or Ray workers; the pruner lives with the sampler
in the tuner, because it compares each report with every other trial's. A trial connects
on its first report and sends (number, step, value); the answer is one boolean. The key is
random per study, so nothing that was not sent a trial can talk to the listener.

The listener binds loopback when the trials run on this machine. For a remote Ray cluster
(`ray://host:port`) it binds this machine's address on the route to the cluster's head,
the one its workers can reach; CAIRN_TUNE_ADDRESS (`host` or `host:port`) sets it for
other set-ups (a multi-node cluster joined as `ray`, a firewall that opens one port).
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import threading
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from urllib.parse import urlsplit

from cairn.errors import InvalidValueError

Decide = Callable[[int, int, float], bool]
ADDRESS_ENV = "CAIRN_TUNE_ADDRESS"
LOOPBACK = "127.0.0.1"
RAY_CLIENT_PORT = 10001  # Ray's default for ray://host without a port


def listen_address(executor_url: str) -> tuple[str, int]:
    """Where the listener binds so that the executor's workers reach it (port 0: any)."""
    configured = os.environ.get(ADDRESS_ENV, "").strip()
    if configured:
        return _configured(configured)
    if not executor_url.startswith("ray://"):
        return LOOPBACK, 0
    parts = urlsplit(executor_url)
    try:
        port = parts.port or RAY_CLIENT_PORT
    except ValueError:
        port = RAY_CLIENT_PORT
    if not parts.hostname:
        raise InvalidValueError(f"executor {executor_url!r} names no host")
    return _route_source(parts.hostname, port), 0


def _route_source(host: str, port: int) -> str:
    """This machine's address on the route to `host`: a UDP connect picks the route and
    sends nothing."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))
            return probe.getsockname()[0]
    except OSError as exc:
        raise InvalidValueError(
            f"cannot find this machine's address on the route to the Ray head {host!r} ({exc}); "
            f"set {ADDRESS_ENV} to an address of this machine the cluster's workers can reach"
        ) from None


def _configured(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "0")
    if not host or not port.isdigit() or int(port) > 65535:
        raise InvalidValueError(f"{ADDRESS_ENV} must be host or host:port, got {text!r}")
    return host, int(port)


# A peer that connects and says nothing holds only its own thread, and only this long.
HANDSHAKE_TIMEOUT_S = 10.0


class DecisionServer:
    """Accepts on one thread and gives each connection its own, handshake included: a
    connection that never answers the key's challenge cannot hold up the trials behind it."""

    def __init__(self, decide: Decide, address: tuple[str, int] = (LOOPBACK, 0)) -> None:
        self._decide = decide
        self._key = secrets.token_bytes(32)
        try:
            self._socket = socket.create_server(address, backlog=64)
        except OSError as exc:
            raise InvalidValueError(
                f"the tuner cannot listen for trial reports on {address[0]}:{address[1]} "
                f"({exc}); set {ADDRESS_ENV} to an address of this machine"
            ) from None
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._accept, name="cairn-tune-decisions")
        self._thread.daemon = True
        self._thread.start()

    @property
    def address(self) -> tuple[tuple[str, int], bytes]:
        """What a trial needs to connect: the address and the key."""
        return self._socket.getsockname()[:2], self._key

    def close(self) -> None:
        self._closing = True
        # accept() is not woken by closing its socket from another thread; a connection is.
        socket.create_connection(self.address[0], timeout=HANDSHAKE_TIMEOUT_S).close()
        self._thread.join()
        self._socket.close()
        with self._lock:
            for connection in self._connections:
                connection.close()

    def _accept(self) -> None:
        while True:
            try:
                peer, _ = self._socket.accept()
            except OSError:
                if self._closing:
                    return
                continue
            if self._closing:
                peer.close()
                return
            threading.Thread(target=self._serve, args=(peer,), daemon=True).start()

    def _serve(self, peer: socket.socket) -> None:
        _receive_timeout(peer, HANDSHAKE_TIMEOUT_S)
        connection = Connection(peer.detach())
        try:
            deliver_challenge(connection, self._key)
            answer_challenge(connection, self._key)
        except (OSError, EOFError, AuthenticationError):
            connection.close()
            return
        _receive_timeout_of(connection, 0)
        with self._lock:
            self._connections.add(connection)
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


def _receive_timeout(peer: socket.socket, seconds: float) -> None:
    """A receive timeout on the descriptor itself (0: none), which survives `detach`, unlike
    `settimeout`, which would leave a non-blocking descriptor behind."""
    whole = int(seconds)
    peer.setsockopt(
        socket.SOL_SOCKET,
        socket.SO_RCVTIMEO,
        struct.pack("ll", whole, int((seconds - whole) * 1_000_000)),
    )


def _receive_timeout_of(connection: Connection, seconds: float) -> None:
    with socket.socket(fileno=os.dup(connection.fileno())) as view:
        _receive_timeout(view, seconds)
