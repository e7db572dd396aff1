"""What a model flavor offers: save a native model to one payload, load it back, predict.

A flavor's `name` is stored with every model version and selects the loader forever after,
so it must never change meaning once released. `accepts` is the detection test; it must not
import the flavor's library (a model of that library means the library is already imported,
so looking in `sys.modules` is enough) so that detecting a scikit-learn model never pays for
importing torch.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Flavor(Protocol):
    """A family of models cairn can store as bytes and run."""

    name: str

    def accepts(self, model: object) -> bool: ...

    def save(self, model: object, *, example: object | None = None) -> bytes:
        """The model as one payload. `example` (model inputs, if the caller has some) lets a
        flavor that needs sample inputs to serialize (torch.export) use them."""
        ...

    def load(self, payload: bytes) -> object: ...

    def predict(self, model: object, inputs: object) -> object:
        """`inputs` are already conformed to the signature: an ndarray or a pandas DataFrame."""
        ...
