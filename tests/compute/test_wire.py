"""How tasks and results travel to a local worker: the message channel and the pickles."""

from __future__ import annotations

import pickle
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from cairn.compute import wire
from cairn.compute.channel import READ_SIZE, Channel


@pytest.fixture
def pair() -> Iterator[tuple[Channel, Channel]]:
    left, right = socket.socketpair()
    yield Channel(left), Channel(right)
    left.close()
    right.close()


def test_messages_sent_back_to_back_arrive_whole_and_in_order(pair) -> None:
    sender, receiver = pair
    messages = [b"", b"a", b"b" * 100, b"c" * (READ_SIZE - 9), b"d" * READ_SIZE, b"e" * 3]
    for message in messages:  # all in the socket before the first read
        sender.send(message)
    assert [bytes(receiver.recv()) for _ in messages] == messages


def test_a_large_message_arrives_whole_while_it_is_still_being_sent(pair) -> None:
    sender, receiver = pair
    big = np.random.default_rng(0).bytes(8 * READ_SIZE + 5)  # more than the socket buffers
    writer = threading.Thread(target=lambda: (sender.send(big), sender.send(b"after")))
    writer.start()
    assert receiver.recv() == big
    assert receiver.recv() == b"after"
    writer.join()


def test_the_other_end_shutting_is_eof_even_mid_message(pair) -> None:
    sender, receiver = pair
    sender.send(b"last")
    sender._sock.sendall(b"\x00\x00\x00\x00\x00\x00\x00\x09half")  # 9 bytes promised, 4 sent
    sender._sock.shutdown(socket.SHUT_WR)
    assert receiver.recv() == b"last"
    with pytest.raises(EOFError):
        receiver.recv()


@pytest.mark.parametrize(
    "value",
    [((0,), {}), ((1.5, "x", None, True, b"b", 2j), {"k": [1, (2, 3)]}), [], {}],
)
def test_plain_values_take_plain_pickle_and_come_back_equal(value: object) -> None:
    data, segments = wire.dumps(value)
    assert segments == ()
    assert data == pickle.dumps(value, protocol=5)
    assert wire.loads(data) == value


def test_what_pickle_cannot_rebuild_elsewhere_goes_through_cloudpickle() -> None:
    def local_function(x: int) -> int:
        return x + 1

    class Local:
        pass

    for value in [(local_function,), {"k": Local}, [lambda: 1], ((1,), {"f": local_function})]:
        data, _ = wire.dumps(value)
        with pytest.raises((pickle.PicklingError, AttributeError)):
            pickle.dumps(value)
        assert type(wire.loads(data)) is type(value)
    assert wire.loads(wire.dumps((local_function,))[0])[0](1) == 2


def test_large_containers_and_arrays_are_not_taken_for_plain() -> None:
    assert wire._plain(list(range(wire.PLAIN_MAX_ITEMS)), wire.PLAIN_DEPTH)
    assert not wire._plain(list(range(wire.PLAIN_MAX_ITEMS + 1)), wire.PLAIN_DEPTH)
    array = np.arange(wire.SHARED_MIN_BYTES // 8)
    data, segments = wire.dumps((array,))
    assert len(segments) == 1
    np.testing.assert_array_equal(wire.loads(data, segments, unlink_after=True)[0], array)
