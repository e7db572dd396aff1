"""Codecs: turn a Python value into one contiguous byte payload plus small JSON metadata, and back.

`encode` picks the first registered codec whose `handles(value)` is true (pickle is the fallback);
`decode` looks the codec up by the name stored with the blob. Heavy libraries (numpy, blosc2,
pyarrow, pandas, polars, scipy, torch) are imported only when a value of theirs shows up.

Arrays (NumPy, and the parts of sparse matrices and tensors) are compressed for speed by default;
`CAIRN_ARRAY_CODEC=size` or `with array_priority("size"):` trades save and load time for smaller
files (see `cairn.codecs.ndarray`).

Decoders receive a read-only memoryview that may be an mmap of the blob file. They never keep
writable references into it: arrays are decompressed into fresh memory or copied, except when
the mapping is a `CopyOnWriteMap` (private mapping, see `cairn.codecs.buffers`), which they may
alias zero-copy since writes to it stay in the process. Decoded NumPy arrays (and tensors) are
therefore always writable.
"""

from cairn.codecs._base import Codec, Encoded
from cairn.codecs.buffers import CopyOnWriteMap
from cairn.codecs.ndarray import (
    ArrayPriority,
    ArrayPriorityError,
    array_priority,
    current_array_priority,
)
from cairn.codecs.registry import codecs, decode, encode, register

__all__ = [
    "ArrayPriority",
    "ArrayPriorityError",
    "Codec",
    "CopyOnWriteMap",
    "Encoded",
    "array_priority",
    "codecs",
    "current_array_priority",
    "decode",
    "encode",
    "register",
]
