"""The buffers a decoder is handed, and the one kind it may alias writably: copy-on-write maps.

A decoder gets a read-only memoryview, possibly over an mmap of a blob file. Handing the user an
array that points into a shared (ACCESS_READ) mapping would make it read-only, and a writable
shared mapping would let the user corrupt the content-addressed blob. A private mapping
(MAP_PRIVATE, `mmap.ACCESS_COPY`) is both: pages are shared with the page cache until the user
writes to one, and then only that page is copied, never written back.

This is the contract between a storage layer and the codecs: a store that maps a file with
`CopyOnWriteMap` and passes `memoryview(the_map)` (or a slice of it) lets decoders hand out
writable arrays without a copy; `writable_view` is how a decoder asks whether it may. Any other
buffer is copied by the decoder before the user can write to it.
"""

from __future__ import annotations

import mmap


class CopyOnWriteMap(mmap.mmap):
    """An `mmap.mmap` that is always opened with ACCESS_COPY (private, copy-on-write)."""

    def __new__(cls, fileno: int, length: int = 0, **kwargs: object) -> CopyOnWriteMap:
        kwargs.pop("access", None)
        return super().__new__(cls, fileno, length, access=mmap.ACCESS_COPY, **kwargs)


def writable_view(data: memoryview) -> memoryview | None:
    """A writable alias of `data` if it lies in a `CopyOnWriteMap`, else None."""
    owner = data.obj
    if not isinstance(owner, CopyOnWriteMap) or not data.c_contiguous or data.nbytes == 0:
        return None
    import numpy as np

    # memoryview does not expose a slice's offset into its exporter, so take it from the addresses.
    base = np.frombuffer(owner, dtype=np.uint8)
    start = np.frombuffer(data, dtype=np.uint8).__array_interface__["data"][0]
    offset = start - base.__array_interface__["data"][0]
    if offset < 0 or offset + data.nbytes > len(owner):
        return None
    return memoryview(owner)[offset : offset + data.nbytes]
