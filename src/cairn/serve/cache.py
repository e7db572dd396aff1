"""A bounded LRU of predictions keyed by the model version and the content of the inputs.

The content key is a BLAKE3 digest of what the model sees: an array's dtype, shape and
bytes; a DataFrame's columns, dtypes and values. Two inputs with equal values but another
dtype or shape are different keys, since a model may answer them differently. Values
without a fixed byte layout (object arrays and columns: text, mixed types) are keyed by
their JSON text, which tells 1, 1.0 and "1" apart; an input JSON cannot hold exactly has no
key and is not cached.

All calls happen on the event loop thread, so the cache takes no lock. The outputs it
returns are the objects it was given: callers read them and must not change them.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

import blake3
import numpy as np
import orjson

from cairn.errors import InvalidValueError


class PredictionCache:
    """Bounded LRU of predictions keyed by (model version key, the input's content)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if not (isinstance(max_entries, int) and max_entries >= 1):
            raise InvalidValueError(
                f"max_entries must be an int of at least 1, not {max_entries!r} "
                "(to serve without a cache, do not make one)"
            )
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, bytes], object] = OrderedDict()

    @staticmethod
    def key_of(inputs: object) -> bytes | None:
        """The content key of `inputs` (an ndarray or a pandas DataFrame), or None when it
        has none (another type, or objects JSON cannot hold exactly)."""
        try:
            if isinstance(inputs, np.ndarray):
                return _array_key(inputs)
            pd = sys.modules.get("pandas")
            if pd is not None and isinstance(inputs, pd.DataFrame):
                return _frame_key(inputs)
        except (TypeError, ValueError):  # orjson: a value JSON has no exact text for
            return None
        return None

    def get(self, version_key: str, key: bytes) -> object | None:
        """The outputs cached for `key` under `version_key`, or None (counted as a miss)."""
        entry = (version_key, key)
        outputs = self._entries.get(entry)
        if outputs is None:
            self.misses += 1
            return None
        self._entries.move_to_end(entry)
        self.hits += 1
        return outputs

    def put(self, version_key: str, key: bytes, outputs: object) -> None:
        """Remember `outputs`, evicting the least recently used entry when full."""
        entry = (version_key, key)
        entries = self._entries
        entries[entry] = outputs
        entries.move_to_end(entry)
        if len(entries) > self.max_entries:
            entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _array_key(array: np.ndarray) -> bytes:
    digest = blake3.blake3(b"array")
    digest.update(f"{_dtype_text(array.dtype)}{array.shape}".encode())
    _update_values(digest, array)
    return digest.digest()


def _frame_key(frame: Any) -> bytes:
    digest = blake3.blake3(b"frame")
    digest.update(repr(frame.columns.tolist()).encode())
    digest.update(f"{frame.shape}".encode())
    for _, column in frame.items():
        digest.update(_dtype_text(column.dtype).encode())
        _update_values(digest, column.to_numpy())
    return digest.digest()


def _dtype_text(dtype: Any) -> str:
    """A dtype's exact text: byte order and fields for NumPy, categories for pandas."""
    if isinstance(dtype, np.dtype):
        return dtype.str if dtype.names is None else str(dtype.descr)
    return repr(dtype)


def _update_values(digest: Any, values: np.ndarray) -> None:
    if values.dtype.hasobject:
        digest.update(orjson.dumps(values.tolist(), option=orjson.OPT_SERIALIZE_NUMPY))
    else:  # as bytes: datetimes and records have no buffer format of their own
        digest.update(np.ascontiguousarray(values).reshape(-1).view(np.uint8))
