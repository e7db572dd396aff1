"""Bytes kept as they are: the content of a file in a file set.

Chosen by name (`encode(data, codec="bytes")`), never automatically, so that a `bytes` value
saved as an artifact keeps the encoding (and digest) it has always had.
"""

from __future__ import annotations

from cairn.codecs._base import Encoded

NAME = "bytes"


class BytesCodec:
    name = NAME

    def handles(self, value: object) -> bool:
        return isinstance(value, bytes | bytearray | memoryview)

    def encode(self, value: object) -> Encoded:
        view = memoryview(value)  # type: ignore[arg-type]
        if not view.c_contiguous:
            view = memoryview(view.tobytes())
        return Encoded(self.name, view.cast("B"), {})

    def decode(self, data: memoryview, meta: dict) -> object:
        # A copy: `data` may be a mapping of the blob file, which the caller must not keep.
        return bytes(data)
