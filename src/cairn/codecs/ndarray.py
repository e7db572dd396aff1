"""NumPy arrays as blosc2 chunks, or raw bytes when they do not compress enough.

Speed or size
-------------
By default arrays are compressed for speed, as Blosc intends: LZ4 after a byte or bit shuffle,
which compresses at 2.5-4 GB/s on two cores and decompresses faster than a file is read, so
loading costs about what reading the raw bytes would (saving, up to 2-3 times what writing them
to the page cache would). Speed never stores more than a general-purpose compressor would:
where LZ4-HC (joblib's "lz4") beats shuffled LZ4, ZSTD level 1 is used, bit-shuffled if that is
enough, else alone (rounded measurements: a third of LZ4's size, at three times its cost). Data
that shrinks by less than a quarter is stored raw and loads zero-copy. With ``size``, the
smallest of all candidates wins, filters that cost more included (byte deltas for smooth
series), and incompressible data is stored compressed for a gain of 5 % or more.

Choose with either

- the environment variable ``CAIRN_ARRAY_CODEC=speed`` or ``=size`` (read at every save), or
- ``with cairn.codecs.array_priority("size"): run.save("x", arr)`` for the saves inside the
  block, in this thread (a `ContextVar`, so asyncio tasks started inside inherit it).

The choice covers everything stored through this codec: NumPy arrays and the parts of scipy.sparse
matrices and torch tensors. Loading needs no setting: each blob's meta names its layout.

Layout of the payload
---------------------
- ``layout == "raw"``: the array's C-order bytes, nothing else. Incompressible data (random
  floats) gains little from compression but pays for it on every load; raw bytes can instead be
  handed out zero-copy from a copy-on-write mmap (see `cairn.codecs.buffers`).
- ``layout == "blosc2"``: blosc2 chunks back to back, each holding ``meta["chunk"]`` bytes of the
  array (the last one fewer). Every chunk header carries its own compressed size, so no index is
  stored. This is the chunk format an `SChunk` stores, minus the frame: building a cframe and
  parsing it back cost a full extra copy each way, while here each chunk is decompressed straight
  into the output array. Blobs written with other chunk sizes load the same way.

Returned arrays are always writable and owned by the caller: either freshly decompressed memory,
a private copy, or a copy-on-write mapping whose writes never reach the blob file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from cairn.codecs._base import Buffer, Encoded
from cairn.codecs.buffers import writable_view
from cairn.errors import CairnError, CodecError
from cairn.states import TextEnum

NAME = "ndarray.blosc2"
# blosc2.compress2 returns each chunk in a new bytes object. Up to about 16 MiB the C allocator
# recycles that memory from one chunk to the next; a larger chunk would be mapped afresh each
# time and page-faulted as it is written (200 MB of random-walk floats: 0.12 s in one chunk,
# 0.10 s in 16 MiB ones, 0.16 s in 8 MiB ones joined with bytes.join). Decompressing costs 20 %
# more than in one chunk: each call starts its own two threads.
CHUNK_BYTES = 16 << 20
# Arrays from twice this size up are cut into at least NTHREADS chunks, one per thread.
MIN_CHUNK_BYTES = 1 << 20
NTHREADS = 2
SAMPLE_WINDOW = 256 * 1024
_HEADER_CBYTES = slice(12, 16)  # blosc2 chunk header: int32 LE total compressed size
ENV_VAR = "CAIRN_ARRAY_CODEC"


class ArrayPriority(TextEnum):
    """What the array codec favours when it picks a compressor."""

    SPEED = "speed"
    SIZE = "size"


# Below this ratio compressing does not pay for itself. For speed, raw bytes load without any
# decompression (zero-copy from a copy-on-write mmap) and the disk saving would be < 25 %.
MIN_RATIO = {ArrayPriority.SPEED: 1.3, ArrayPriority.SIZE: 1.05}


class ArrayPriorityError(CairnError, ValueError):
    """A CAIRN_ARRAY_CODEC or `array_priority` value that names no `ArrayPriority`."""


_chosen: ContextVar[ArrayPriority | None] = ContextVar("cairn_array_priority", default=None)


def _parse_priority(value: object, source: str) -> ArrayPriority:
    try:
        return ArrayPriority(str(value).strip().lower())
    except ValueError:
        choices = " or ".join(repr(p.value) for p in ArrayPriority)
        raise ArrayPriorityError(f"{source} is {value!r}; expected {choices}") from None


def current_array_priority() -> ArrayPriority:
    """The priority saves use now: `array_priority`'s, else CAIRN_ARRAY_CODEC's, else speed."""
    chosen = _chosen.get()
    if chosen is not None:
        return chosen
    env = os.environ.get(ENV_VAR, "")
    return _parse_priority(env, ENV_VAR) if env.strip() else ArrayPriority.SPEED


@contextmanager
def array_priority(priority: ArrayPriority | str) -> Iterator[ArrayPriority]:
    """Compress the arrays saved inside the block for `priority` ("speed" or "size")."""
    chosen = _parse_priority(priority, "the array priority")
    token = _chosen.set(chosen)
    try:
        yield chosen
    finally:
        _chosen.reset(token)


def _np() -> Any:
    import numpy as np

    return np


def _blosc2() -> Any:
    import blosc2

    return blosc2


def is_plain_array(value: object) -> bool:
    np = sys.modules.get("numpy")
    if np is None:  # numpy never imported: value cannot be an array, and importing it is slow
        return False
    return type(value) in (np.ndarray, np.memmap) and not value.dtype.hasobject


# --- dtype <-> JSON ---------------------------------------------------------------------------


def dtype_to_json(dtype: Any) -> Any:
    """A JSON-able description of `dtype` (structured, subarray and datetime dtypes included)."""
    np = _np()
    descr = np.lib.format.dtype_to_descr(dtype)
    return _jsonable(descr)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    return obj


def dtype_from_json(obj: Any) -> Any:
    np = _np()
    return np.lib.format.descr_to_dtype(_descr_from_json(obj))


def _descr_from_json(obj: Any) -> Any:
    # JSON turned the tuples of a structured descr into lists; numpy needs them back as tuples.
    if isinstance(obj, str):
        return obj
    fields = []
    for field in obj:
        name = tuple(field[0]) if isinstance(field[0], list) else field[0]
        sub = _descr_from_json(field[1])
        if len(field) == 3:
            fields.append((name, sub, tuple(field[2])))
        else:
            fields.append((name, sub))
    return fields


# --- compression choice -----------------------------------------------------------------------


def _typesize(dtype: Any) -> int:
    # Shuffle groups bytes by position inside one element: use the scalar unit that repeats.
    if dtype.kind == "U":
        return 4
    if dtype.kind == "c":
        return dtype.itemsize // 2
    return dtype.itemsize if 0 < dtype.itemsize <= 255 else 1


def _params(codec: str, clevel: int, filters: list[str], typesize: int, **more: Any) -> dict:
    b2 = _blosc2()
    return {
        "codec": b2.Codec[codec],
        "clevel": clevel,
        "filters": [b2.Filter[f] for f in filters],
        "typesize": typesize,
        "nthreads": NTHREADS,
        "splitmode": b2.SplitMode.NEVER_SPLIT,
        **more,
    }


def _lz4_candidates(typesize: int) -> list[dict]:
    b2 = _blosc2()
    split = {"splitmode": b2.SplitMode.ALWAYS_SPLIT}
    return [
        # Bit-shuffle wins on low-entropy numbers (small ints, rounded floats, smooth signals);
        # split into byte streams it shrinks small ints 2 % more, rounded floats 2.5x less.
        _params("LZ4", 5, ["BITSHUFFLE"], typesize, **split),
        _params("LZ4", 5, ["BITSHUFFLE"], typesize),
        # A byte shuffle suits wide-ranging floats. On 200 MB of them LZ4 runs at about the
        # same speed after either filter, so the smaller output is the one to take.
        _params("LZ4", 5, ["SHUFFLE"], typesize, blocksize=1 << 18, **split),
    ]


def _zstd_candidates(typesize: int) -> list[dict]:
    # Cheapest first: ZSTD after a bit-shuffle costs about twice LZ4's time, without a filter
    # three times, but its entropy coder finds what LZ4 cannot in data with few distinct values
    # (rounded measurements: 11x against LZ4's 3.7x).
    return [
        _params("ZSTD", 1, ["BITSHUFFLE"], typesize, blocksize=1 << 18),
        _params("ZSTD", 1, ["NOFILTER"], typesize, blocksize=1 << 20),
    ]


def _size_only_candidates(typesize: int) -> list[dict]:
    b2 = _blosc2()
    return [
        # No filter keeps whole repeated values intact (e.g. few distinct floats in a row); LZ4
        # then compresses at half its shuffled speed.
        _params("LZ4", 5, ["NOFILTER"], typesize),
        # Byte deltas after the shuffle suit smooth series (random walks: 2.2x against 1.8x).
        _params("ZSTD", 1, ["SHUFFLE", "BYTEDELTA"], typesize, blocksize=1 << 20,
                splitmode=b2.SplitMode.ALWAYS_SPLIT),
    ]  # fmt: skip


def _reference(typesize: int) -> dict:
    # What a general-purpose compressor at its default would store (joblib's "lz4" is LZ4-HC
    # level 3 over the raw bytes): a speed-first save must not store more than that.
    return _params("LZ4HC", 3, ["NOFILTER"], typesize)


def _sample(flat: memoryview, itemsize: int) -> memoryview | bytes:
    n = flat.nbytes
    if n <= 3 * SAMPLE_WINDOW:
        return flat
    win = max(itemsize, SAMPLE_WINDOW // itemsize * itemsize)
    starts = [0, (n // 2) // itemsize * itemsize, (n - win) // itemsize * itemsize]
    return b"".join(flat[s : s + win] for s in starts)


def choose_cparams(flat: memoryview, dtype: Any, priority: ArrayPriority) -> dict | None:
    """Compression parameters for this data, or None to store it raw.

    Every choice is made from the compressed sizes of a sample (three 256 KiB windows), never
    from timings, so the same array always gets the same parameters. For size the smallest candidate
    wins; for speed see `_cheapest_within_budget`. Sampling costs 1-2 ms (7 ms when LZ4-HC has
    to be asked); the wrong choice on 200 MB costs 30-150 ms or twice the bytes.
    """
    if flat.nbytes == 0:
        return None
    b2 = _blosc2()
    sample = _sample(flat, max(dtype.itemsize, 1))
    typesize = _typesize(dtype)

    def size(cparams: dict) -> int:
        return len(b2.compress2(sample, **cparams))

    if priority is ArrayPriority.SIZE:
        candidates = [
            *_lz4_candidates(typesize),
            *_zstd_candidates(typesize),
            *_size_only_candidates(typesize),
        ]
        sized = [(size(c), i, c) for i, c in enumerate(candidates)]
        best_size, _, best = min(sized, key=lambda entry: entry[:2])  # ties: the earlier one
    else:
        best_size, best = _cheapest_within_budget(size, typesize)
    if len(sample) / best_size < MIN_RATIO[priority]:
        return None
    return best


def _cheapest_within_budget(size: Callable[[dict], int], typesize: int) -> tuple[int, dict]:
    """The cheapest candidate no larger than LZ4-HC would store (`_reference`), with its size.

    In order of cost: LZ4 (the smallest of its filters, which cost about the same); ZSTD after
    a bit-shuffle; ZSTD alone. If none is within the budget, the smallest. ZSTD alone
    practically never stores more than LZ4-HC level 3, so LZ4-HC itself (5-11 ms on the
    sample, the costliest part) is only asked when LZ4 does worse than ZSTD alone.
    """
    zstd_bitshuffled, zstd_plain = _zstd_candidates(typesize)
    best = min(((size(c), c) for c in _lz4_candidates(typesize)), key=lambda entry: entry[0])
    plain = (size(zstd_plain), zstd_plain)
    if best[0] <= plain[0]:
        return best
    budget = size(_reference(typesize))
    if best[0] > budget:
        best = min(best, (size(zstd_bitshuffled), zstd_bitshuffled), key=lambda entry: entry[0])
    if best[0] > budget:
        best = min(best, plain, key=lambda entry: entry[0])
    return best


# --- public helpers (also used by the sparse and torch codecs) --------------------------------


def pack_array(arr: Any) -> tuple[Buffer, dict]:
    """Encode one array; returns (payload, meta). The payload may alias `arr` (raw layout)."""
    np = _np()
    priority = current_array_priority()  # read first: a bad setting fails every save alike
    if not arr.flags.c_contiguous:  # Fortran order, slices and transposes are stored in C order
        arr = np.array(arr, order="C")  # (not ascontiguousarray: it turns 0-d into 1-d)
    meta: dict = {"dtype": dtype_to_json(arr.dtype), "shape": list(arr.shape)}
    if arr.nbytes == 0:
        meta["layout"] = "raw"
        return b"", meta
    flat = memoryview(arr.reshape(-1).view(np.uint8))
    cparams = choose_cparams(flat, arr.dtype, priority)
    if cparams is None:
        meta["layout"] = "raw"
        return flat, meta
    b2 = _blosc2()
    per_thread = min(CHUNK_BYTES, max(MIN_CHUNK_BYTES, -(-flat.nbytes // NTHREADS)))
    chunk = max(1, per_thread // arr.itemsize) * arr.itemsize
    # Blosc's own threads write a chunk's blocks in the order they finish, so the same array
    # would give different bytes (and digests: a dataset saved again unchanged would become a
    # new version) from one save to the next. One thread per chunk, chunks compressed side by
    # side, always gives the same bytes; it costs up to 1.6x Blosc's own threads on 200 MB.
    one_thread = {**cparams, "nthreads": 1}

    def compress(start: int) -> bytes:
        return b2.compress2(flat[start : start + chunk], **one_thread)

    # One buffer for the payload, as large as incompressible chunks could need: NumPy backs it
    # with huge pages, and the pages past the compressed end are never touched, so never backed.
    payload = np.empty(flat.nbytes + -(-flat.nbytes // chunk) * b2.MAX_OVERHEAD, dtype=np.uint8)
    end = 0
    with ThreadPoolExecutor(NTHREADS) as pool:
        for part in pool.map(compress, range(0, flat.nbytes, chunk)):
            payload[end : end + len(part)] = np.frombuffer(part, dtype=np.uint8)
            end += len(part)
    meta.update(
        layout="blosc2",
        chunk=chunk,
        filter="+".join(f.name.lower() for f in cparams["filters"]),
        compressor=cparams["codec"].name.lower(),
    )
    return memoryview(payload)[:end], meta


def unpack_array(data: memoryview, meta: dict) -> Any:
    """Decode what `pack_array` produced into a writable array owned by the caller."""
    np = _np()
    dtype = dtype_from_json(meta["dtype"])
    shape = tuple(meta["shape"])
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    layout = meta.get("layout")
    if nbytes == 0:
        if data.nbytes:
            raise CodecError(f"expected an empty payload for shape {shape}, got {data.nbytes} B")
        return np.empty(shape, dtype=dtype)
    if layout == "raw":
        if data.nbytes != nbytes:
            raise CodecError(f"raw array payload is {data.nbytes} B, expected {nbytes} B")
        cow = writable_view(data)
        if cow is not None:
            return np.frombuffer(cow, dtype=dtype).reshape(shape)
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if layout != "blosc2":
        raise CodecError(f"unknown ndarray layout {layout!r}")
    out = np.empty(nbytes, dtype=np.uint8)
    _decompress_chunks(data, out, int(meta["chunk"]))
    return out.view(dtype).reshape(shape)


def _decompress_chunks(data: memoryview, out: Any, chunk: int) -> None:
    b2 = _blosc2()
    pos, written, total = 0, 0, out.nbytes
    while written < total:
        header = data[pos + _HEADER_CBYTES.start : pos + _HEADER_CBYTES.stop]
        if len(header) != 4:
            raise CodecError("truncated blosc2 payload")
        cbytes = int.from_bytes(header, "little")
        n = min(chunk, total - written)
        if cbytes <= 0 or pos + cbytes > data.nbytes:
            raise CodecError("corrupt blosc2 chunk header")
        src = data[pos : pos + cbytes]
        # The chunk header's nbytes must match before decompressing into a fixed-size slot.
        if int.from_bytes(src[4:8], "little") != n:
            raise CodecError(f"blosc2 chunk holds a different size than the expected {n} B")
        b2.decompress2(src, dst=out[written : written + n])
        pos += cbytes
        written += n
    if pos != data.nbytes:
        raise CodecError(f"{data.nbytes - pos} trailing bytes after the last blosc2 chunk")


class NdarrayCodec:
    """Plain `numpy.ndarray` (and `np.memmap`, loaded back as ndarray) without Python objects."""

    name = NAME

    def handles(self, value: object) -> bool:
        return is_plain_array(value)

    def encode(self, value: object) -> Encoded:
        data, meta = pack_array(value)
        return Encoded(self.name, data, meta)

    def decode(self, data: memoryview, meta: dict) -> object:
        return unpack_array(data, meta)
