"""Fallback for any Python object: cloudpickle, compressed with zstandard.

cloudpickle (not pickle) so lambdas, closures and classes defined in `__main__` or a notebook can
be stored. Unpickling runs arbitrary code: only decode blobs from a store you trust.
"""

from __future__ import annotations

import pickle

from cairn.codecs._base import Encoded
from cairn.errors import CodecError

NAME = "pickle.zstd"
LEVEL = 3
# zstd's own worker threads only help on large inputs; below this, thread start-up dominates.
THREADED_ABOVE = 4 * 1024 * 1024


class PickleCodec:
    name = NAME

    def handles(self, value: object) -> bool:
        return True

    def encode(self, value: object) -> Encoded:
        import cloudpickle
        import zstandard

        try:
            raw = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise CodecError(f"cannot pickle a {type(value).__qualname__}: {exc}") from exc
        threads = 2 if len(raw) > THREADED_ABOVE else 0
        cctx = zstandard.ZstdCompressor(level=LEVEL, threads=threads, write_content_size=True)
        return Encoded(self.name, cctx.compress(raw), {"size": len(raw)})

    def decode(self, data: memoryview, meta: dict) -> object:
        import zstandard

        size = int(meta.get("size", 0))
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
        if len(raw) != size:
            raise CodecError(f"pickle payload decompressed to {len(raw)} B, expected {size} B")
        return pickle.loads(raw)
