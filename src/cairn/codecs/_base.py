"""The value types every codec shares: what an encoding produces and what a codec must offer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Buffer = bytes | memoryview | bytearray


@dataclass(frozen=True)
class Encoded:
    """One encoded value: a single contiguous payload plus small JSON-able metadata.

    `codec` is stored in the metadata DB and selects the decoder later, so it must never change
    meaning once released.
    """

    codec: str
    data: Buffer
    meta: dict = field(default_factory=dict)


@runtime_checkable
class Codec(Protocol):
    """A value <-> bytes converter for the types it `handles`."""

    name: str

    def handles(self, value: object) -> bool: ...

    def encode(self, value: object) -> Encoded: ...

    def decode(self, data: memoryview, meta: dict) -> object: ...
