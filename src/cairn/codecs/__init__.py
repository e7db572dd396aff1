"""Codecs: turn a Python value into one contiguous byte payload plus small JSON metadata, and back.

`encode` picks the first registered codec whose `handles(value)` is true (pickle is the fallback);
`decode` looks the codec up by the name stored with the blob. Heavy libraries (numpy, blosc2,
pyarrow, pandas, polars, scipy, torch) are imported only when a value of theirs shows up.

Decoders receive a read-only memoryview that may be an mmap of the blob file. They never keep
writable references into it: arrays are decompressed into fresh memory or copied, except when
the mapping is a `CopyOnWriteMap` (private mapping), which they may alias zero-copy since writes
to it stay in the process. Decoded NumPy arrays (and tensors) are therefore always writable.
"""

from cairn.codecs._base import Codec, Encoded
from cairn.codecs._cow import CopyOnWriteMap
from cairn.codecs.registry import codecs, decode, encode, register

__all__ = ["Codec", "CopyOnWriteMap", "Encoded", "codecs", "decode", "encode", "register"]
