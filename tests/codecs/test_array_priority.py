"""Arrays compress for speed unless CAIRN_ARRAY_CODEC or `array_priority` asks for size."""

from __future__ import annotations

import threading

import blosc2
import numpy as np
import pytest
import scipy.sparse as sp

from cairn.codecs import (
    ArrayPriority,
    ArrayPriorityError,
    array_priority,
    current_array_priority,
    encode,
)
from cairn.errors import CairnError

from .conftest import roundtrip_via_bytes

RNG = np.random.default_rng(7)
N = 400_000
ARRAYS = {
    "random float64": RNG.random(N),
    "random-walk float32": np.cumsum(RNG.standard_normal(N, dtype=np.float32)),
    "int64 ids": RNG.integers(0, 1000, N, dtype=np.int64),
    # Few distinct values: only an entropy coder (ZSTD) gets far below LZ4 here.
    "rounded measurements": np.round(np.sin(np.linspace(0, 20, N)) + RNG.normal(0, 0.01, N), 2),
}


@pytest.fixture(autouse=True)
def no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_ARRAY_CODEC", raising=False)


def lz4hc_size(arr: np.ndarray) -> int:
    """What LZ4-HC level 3 over the raw bytes (joblib's "lz4") stores for `arr`."""
    return len(
        blosc2.compress2(
            arr, codec=blosc2.Codec.LZ4HC, clevel=3, filters=[blosc2.Filter.NOFILTER], typesize=1
        )
    )


def test_speed_is_the_default_and_takes_zstd_only_where_lz4_stores_too_much() -> None:
    assert current_array_priority() is ArrayPriority.SPEED
    assert encode(ARRAYS["random float64"]).meta["layout"] == "raw"
    for name in ("random-walk float32", "int64 ids"):
        assert encode(ARRAYS[name]).meta["compressor"] == "lz4", name
    assert encode(ARRAYS["rounded measurements"]).meta["compressor"] == "zstd"


@pytest.mark.parametrize("name", list(ARRAYS))
def test_speed_stores_no_more_than_lz4hc(name: str) -> None:
    # LZ4 after a bit-shuffle stored rounded measurements at 1.7x LZ4-HC's size; ZSTD alone
    # stores them at 0.6x.
    arr = ARRAYS[name]
    enc = encode(arr)
    if enc.meta["layout"] == "raw":
        assert arr.nbytes / lz4hc_size(arr) < 1.3
    else:
        assert len(enc.data) <= lz4hc_size(arr)


def test_the_same_array_always_gives_the_same_blob() -> None:
    # 48 MB: several chunks of many blocks each. Blosc's own threads wrote blocks in the order
    # they finished, so ten encodes of one such array gave up to ten different blobs.
    walk = np.cumsum(RNG.standard_normal(12_000_000, dtype=np.float32))
    for name, arr in {**ARRAYS, "48 MB random walk": walk}.items():
        first = encode(arr)
        for _ in range(4):
            again = encode(arr.copy())
            assert bytes(first.data) == bytes(again.data) and first.meta == again.meta, name


def test_size_trades_speed_for_smaller_files() -> None:
    for name, arr in ARRAYS.items():
        fast = encode(arr)
        with array_priority("size") as chosen:
            assert chosen is ArrayPriority.SIZE
            small = encode(arr)
        assert len(small.data) <= len(fast.data), name
    walk = ARRAYS["random-walk float32"]
    with array_priority("size"):
        assert encode(walk).meta["compressor"] == "zstd"
    assert encode(walk).meta["compressor"] == "lz4"


@pytest.mark.parametrize("name", list(ARRAYS))
@pytest.mark.parametrize("priority", list(ArrayPriority))
def test_every_choice_round_trips(name: str, priority: ArrayPriority) -> None:
    arr = ARRAYS[name]
    with array_priority(priority):
        _, out = roundtrip_via_bytes(arr)
    assert out.dtype == arr.dtype and out.tobytes() == arr.tobytes()
    assert out.flags.writeable


@pytest.mark.parametrize(("value", "expected"), [("size", "zstd"), (" SPEED ", "lz4")])
def test_environment_variable(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("CAIRN_ARRAY_CODEC", value)
    assert encode(ARRAYS["random-walk float32"]).meta["compressor"] == expected


def test_block_overrides_environment_and_is_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_ARRAY_CODEC", "size")
    with array_priority(ArrayPriority.SPEED):
        assert current_array_priority() is ArrayPriority.SPEED
        with array_priority("size"):
            assert current_array_priority() is ArrayPriority.SIZE
        assert current_array_priority() is ArrayPriority.SPEED
    assert current_array_priority() is ArrayPriority.SIZE


def test_block_belongs_to_its_thread() -> None:
    seen: list[ArrayPriority] = []
    with array_priority("size"):
        other = threading.Thread(target=lambda: seen.append(current_array_priority()))
        other.start()
        other.join()
    assert seen == [ArrayPriority.SPEED]


def test_bad_environment_value_fails_the_save_instead_of_pickling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A CodecError would make the registry fall back to pickle, silently storing 8x the bytes.
    monkeypatch.setenv("CAIRN_ARRAY_CODEC", "smallest")
    with pytest.raises(
        ArrayPriorityError, match="CAIRN_ARRAY_CODEC is 'smallest'.*'speed' or 'size'"
    ):
        encode(np.zeros(10))
    with pytest.raises(ValueError):
        encode(np.zeros(0))


def test_bad_argument_is_refused_on_entry() -> None:
    with pytest.raises(ArrayPriorityError) as caught, array_priority("fast"):
        pass
    assert isinstance(caught.value, CairnError) and isinstance(caught.value, ValueError)
    assert current_array_priority() is ArrayPriority.SPEED


def test_sparse_parts_follow_the_priority() -> None:
    m = sp.random(2000, 2000, density=0.05, format="csr", random_state=1, dtype=np.float64)
    m.data = np.round(m.data, 2)
    fast = encode(m)
    with array_priority("size"):
        small = encode(m)
    # The index arrays (smooth int32 series) stay LZ4 for speed; ZSTD with byte deltas for size.
    assert [part.get("compressor") for part in fast.meta["parts"][1:]] == ["lz4", "lz4"]
    assert [part.get("compressor") for part in small.meta["parts"][1:]] == ["zstd", "zstd"]
    assert len(small.data) < len(fast.data)
    _, out = roundtrip_via_bytes(m)
    assert (out != m).nnz == 0
