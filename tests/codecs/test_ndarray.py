import json
import mmap

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.codecs import CopyOnWriteMap, decode, encode, ndarray

from .conftest import roundtrip_via_bytes


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert type(b) is np.ndarray
    assert b.dtype == a.dtype
    assert b.shape == a.shape
    # Byte equality is NaN-, NaT- and signed-zero-exact, and works for every dtype here.
    assert np.ascontiguousarray(a).tobytes() == b.tobytes()
    assert b.flags.writeable


scalar_dtypes = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="="),
    hnp.unsigned_integer_dtypes(endianness="="),
    hnp.floating_dtypes(endianness="="),
    hnp.complex_number_dtypes(endianness="="),
    hnp.datetime64_dtypes(endianness="="),
    hnp.timedelta64_dtypes(endianness="="),
    hnp.unicode_string_dtypes(endianness="="),
    hnp.byte_string_dtypes(),
    st.sampled_from([np.dtype(">f8"), np.dtype(">i4")]),
)
any_dtypes = st.one_of(
    scalar_dtypes,
    hnp.array_dtypes(scalar_dtypes, min_size=1, max_size=3, allow_subarrays=True),
)


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(any_dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)))
def test_roundtrip_any_dtype_and_shape(arr):
    codec, out = roundtrip_via_bytes(arr)
    assert codec == "ndarray.blosc2"
    assert_same(arr, out)


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int16, np.complex128, np.bool_]),
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9),
    ),
    st.data(),
)
def test_non_contiguous_views(arr, data):
    views = [arr.T, arr[::2], arr[..., ::-1], np.asfortranarray(arr)]
    view = data.draw(st.sampled_from(views))
    _, out = roundtrip_via_bytes(view)
    assert_same(view, out)


@pytest.mark.parametrize(
    "arr",
    [
        np.array(3.5),
        np.zeros((0, 4)),
        np.array([np.nan, -0.0, np.inf, -np.inf]),
        np.array(["2020-01-01", "NaT"], dtype="M8[ns]"),
        np.array(["", "ünïcode", "日本"]),
        np.arange(3_000_000, dtype=np.int64).reshape(1000, 3000),  # compressed
        np.random.default_rng(0).random(2_000_000),  # incompressible: raw
        np.zeros(10, dtype=[("a", "<i4", (2,)), ("b", "U3"), ("c", "?")]),
    ],
    ids=["0d", "empty", "specials", "nat", "unicode", "compressed", "random", "structured"],
)
def test_examples(arr, roundtrip):
    _, out = roundtrip(arr)
    assert_same(arr, out)


def test_layout_choice():
    rng = np.random.default_rng(0)
    assert encode(rng.random(1_000_000)).meta["layout"] == "raw"
    ids = encode(rng.integers(0, 1000, 1_000_000))
    assert ids.meta["layout"] == "blosc2"
    assert len(ids.data) < 8_000_000 / 3


def test_object_arrays_fall_back_to_pickle(roundtrip):
    arr = np.array([1, "a", None, {"k": 2}], dtype=object)
    codec, out = roundtrip(arr)
    assert codec == "pickle.zstd"
    assert out.dtype == object and list(out) == list(arr)


def test_memmap_loads_as_ndarray(tmp_path, roundtrip):
    mm = np.memmap(tmp_path / "m", dtype=np.int32, mode="w+", shape=(100,))
    mm[:] = np.arange(100)
    codec, out = roundtrip(mm)
    assert codec == "ndarray.blosc2"
    assert_same(np.asarray(mm), out)


def _blob(tmp_path, data) -> tuple:
    path = tmp_path / "blob"
    path.write_bytes(bytes(data))
    f = open(path, "rb")  # noqa: SIM115 (kept open for the mapping's lifetime in the test)
    return f, path


@pytest.mark.parametrize("arr", [np.random.default_rng(1).random(100_000), np.arange(100_000)])
def test_copy_on_write_mmap_is_writable_and_blob_untouched(tmp_path, arr):
    enc = encode(arr)
    f, path = _blob(tmp_path, enc.data)
    with f:
        view = memoryview(CopyOnWriteMap(f.fileno(), 0)).toreadonly()
        out = decode(enc.codec, view, enc.meta)
        assert_same(arr, out)
        out[:] = 7
    assert path.read_bytes() == bytes(enc.data)  # the user's writes never reach the blob


def test_read_only_mmap_gives_private_copy(tmp_path):
    arr = np.random.default_rng(2).random(50_000)
    enc = encode(arr)
    assert enc.meta["layout"] == "raw"
    f, path = _blob(tmp_path, enc.data)
    with f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        out = decode(enc.codec, memoryview(m), enc.meta)
        assert_same(arr, out)
        out[0] = 1.0
        del out
        m.close()  # a copy was made: no export keeps the mapping alive


def test_a_chunk_stays_below_blosc2s_2_gib_cap():
    import blosc2

    assert ndarray.CHUNK_BYTES + blosc2.MAX_OVERHEAD < 2**31


@pytest.mark.parametrize("priority", ["speed", "size"])
def test_several_chunks_and_blobs_of_another_chunk_size(monkeypatch, priority):
    # Blobs written before held 8 MiB chunks; they must keep loading with today's chunk size.
    arr = np.round(np.random.default_rng(3).normal(0, 1, 700_000), 2).reshape(700, 1000)
    monkeypatch.setattr(ndarray, "CHUNK_BYTES", 1 << 20)
    with ndarray.array_priority(priority):
        enc = encode(arr)
    monkeypatch.undo()
    assert enc.meta["layout"] == "blosc2" and enc.meta["chunk"] == 1 << 20
    out = decode(
        enc.codec, memoryview(bytes(enc.data)).toreadonly(), json.loads(json.dumps(enc.meta))
    )
    assert_same(arr, out)


@pytest.mark.slow
def test_larger_than_2gib():
    # 2.25 GiB of compressible int64 (many chunks) plus one raw float32 > 2 GiB would need
    # ~9 GiB at once; the compressible one exercises the chunked path, which is the one at risk.
    n = (9 << 30) // 4 // 8
    arr = np.arange(n, dtype=np.int64)
    arr %= 1000
    enc = encode(arr)
    assert enc.meta["layout"] == "blosc2"
    assert arr.nbytes > 2 << 30
    out = decode(enc.codec, memoryview(enc.data).toreadonly(), enc.meta)
    assert out.shape == arr.shape and out.dtype == arr.dtype
    assert np.array_equal(out, arr)
