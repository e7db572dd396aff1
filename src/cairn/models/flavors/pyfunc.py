"""Any Python object with a `predict` method, or any callable (`predict` = calling it).

The payload is cloudpickle: functions and classes defined in `__main__` (a script or a
notebook) are stored by value; those of an importable module by reference, so that module
must be importable where the model is loaded. Loading runs code from the payload: only load
payloads from a store you trust.
"""

from __future__ import annotations

import pickle

NAME = "pyfunc"


class PyfuncFlavor:
    name = NAME

    def accepts(self, model: object) -> bool:
        # A class is callable but is not a model: calling it would build an instance.
        if isinstance(model, type):
            return False
        return callable(getattr(model, "predict", None)) or callable(model)

    def save(self, model: object, *, example: object | None = None) -> bytes:
        import cloudpickle

        return cloudpickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, payload: bytes) -> object:
        return pickle.loads(payload)

    def predict(self, model: object, inputs: object) -> object:
        method = getattr(model, "predict", None)
        if callable(method):
            return method(inputs)
        return model(inputs)  # type: ignore[operator]
