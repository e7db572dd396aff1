"""Where the tuner listens for trial reports: loopback for trials on this machine, the route's
address for a remote Ray cluster, CAIRN_TUNE_ADDRESS when set; always behind the study's key."""

from __future__ import annotations

import socket
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path

import pytest

import cairn
from cairn.errors import InvalidValueError
from cairn.tuning.decisions import DecisionServer, listen_address
from tests.tuning.objectives import quadratic

# A documentation address (RFC 5737): routed like any remote host, never this machine's.
REMOTE = "203.0.113.7"


def machine_address() -> str:
    """This machine's own address on its default route (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((REMOTE, 9))
        return probe.getsockname()[0]


@pytest.mark.parametrize("url", ["local", "thread", "ray"])
def test_trials_on_this_machine_report_over_loopback(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAIRN_TUNE_ADDRESS", raising=False)
    assert listen_address(url) == ("127.0.0.1", 0)


def test_a_remote_ray_cluster_reaches_this_machines_address_on_the_route_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CAIRN_TUNE_ADDRESS", raising=False)
    host, port = listen_address(f"ray://{REMOTE}:10001")
    assert host == machine_address() and host != "127.0.0.1" and port == 0
    assert listen_address(f"ray://{REMOTE}") == (host, 0)  # Ray's default client port
    assert listen_address("ray://127.0.0.1:10001") == ("127.0.0.1", 0)  # a head on this machine


def test_the_address_can_be_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TUNE_ADDRESS", "10.1.2.3:4567")
    assert listen_address("ray://head:10001") == ("10.1.2.3", 4567)
    assert listen_address("local") == ("10.1.2.3", 4567)
    monkeypatch.setenv("CAIRN_TUNE_ADDRESS", "10.1.2.3")
    assert listen_address("ray://head:10001") == ("10.1.2.3", 0)
    monkeypatch.setenv("CAIRN_TUNE_ADDRESS", "10.1.2.3:port")
    with pytest.raises(InvalidValueError, match="CAIRN_TUNE_ADDRESS must be host or host:port"):
        listen_address("local")


def test_the_listener_answers_only_holders_of_the_key() -> None:
    asked = []

    def decide(number: int, step: int, value: float) -> bool:
        asked.append((number, step, value))
        return value < 0

    # Loopback only: a sandbox may drop connections to the machine's own outside address.
    server = DecisionServer(decide, ("127.0.0.1", 0))
    try:
        (host, port), key = server.address
        with Client((host, port), authkey=key) as trial:
            trial.send((3, 1, -0.5))
            assert trial.recv() is True
            trial.send((3, 2, 0.5))
            assert trial.recv() is False
        with pytest.raises(AuthenticationError):
            Client((host, port), authkey=b"not the study's key")
        assert asked == [(3, 1, -0.5), (3, 2, 0.5)]
    finally:
        server.close()


def test_a_silent_peer_does_not_hold_up_the_trials_behind_it() -> None:
    server = DecisionServer(lambda number, step, value: True)
    try:
        address, key = server.address
        # The first connection never answers the challenge.
        with socket.create_connection(address), Client(address, authkey=key) as trial:
            trial.send((0, 1, 1.0))
            assert trial.recv() is True
    finally:
        server.close()


@pytest.mark.parametrize(
    ("address", "message"),
    [("nowhere:x", "must be host or host:port"), (f"{REMOTE}:0", "cannot listen")],
)
def test_an_address_the_tuner_cannot_listen_on_is_refused_before_anything_is_written(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, address: str, message: str
) -> None:
    monkeypatch.setenv("CAIRN_TUNE_ADDRESS", address)
    with pytest.raises(InvalidValueError, match=message):
        cairn.tune(quadratic, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=2,
                   executor="thread", scheduler="asha")  # fmt: skip
    assert cairn.search_runs() == []
    assert cairn.tuning.list_studies(cairn.get_store()) == []
