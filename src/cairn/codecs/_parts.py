"""Several arrays in one payload, each in the ndarray codec's format (used by sparse and torch).

Each part starts on a 64-byte boundary so raw parts stay aligned for zero-copy loading; the
per-part metadata (offset, length, ndarray meta) goes into the blob's JSON meta.
"""

from __future__ import annotations

from typing import Any

from cairn.codecs.ndarray import pack_array, unpack_array
from cairn.errors import CodecError

ALIGN = 64


def pack_arrays(arrays: list[Any]) -> tuple[bytes | memoryview, list[dict]]:
    payloads, metas, pos = [], [], 0
    for arr in arrays:
        data, meta = pack_array(arr)
        pad = -pos % ALIGN
        if pad:
            payloads.append(b"\0" * pad)
            pos += pad
        n = memoryview(data).nbytes
        metas.append({**meta, "offset": pos, "length": n})
        payloads.append(data)
        pos += n
    if len(payloads) == 1:  # one raw part: hand it through without a copy
        return payloads[0], metas
    return b"".join(payloads), metas


def unpack_arrays(data: memoryview, metas: list[dict]) -> list[Any]:
    out = []
    for meta in metas:
        start, length = int(meta["offset"]), int(meta["length"])
        if start < 0 or start + length > data.nbytes:
            raise CodecError(
                f"array part at {start}+{length} lies outside the {data.nbytes} B payload"
            )
        out.append(unpack_array(data[start : start + length], meta))
    return out
