"""ONNX models, run by onnxruntime on the CPU.

Detected from an `onnx.ModelProto`. Serialized model bytes are accepted with `flavor='onnx'`
only: bytes carry no mark that tells an ONNX model from any other payload, so they are
checked by opening them in onnxruntime instead. Loading gives an onnxruntime
InferenceSession (the `onnx` package is not needed to load or predict); `predict` takes that
session or a ModelProto. `predict` feeds the
model's first input and returns its first output, fitting the inputs to the graph's declared
input type and shape as a signature would (so an int array goes into a float input).
"""

from __future__ import annotations

import sys
from typing import Any

from cairn.errors import FlavorError
from cairn.models.signature import FREE, Signature, TensorSchema, conform

NAME = "onnx"
_CPU = ["CPUExecutionProvider"]
_ELEMENT_TYPES = {  # onnxruntime's type names -> NumPy dtype names
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}


class OnnxFlavor:
    name = NAME

    def accepts(self, model: object) -> bool:
        onnx = sys.modules.get("onnx")
        return onnx is not None and isinstance(model, onnx.ModelProto)

    def save(self, model: object, *, example: object | None = None) -> bytes:
        if isinstance(model, bytes | bytearray | memoryview):
            payload = bytes(model)
            try:
                self.load(payload)
            except Exception as exc:
                raise FlavorError(
                    f"these bytes are not an ONNX model onnxruntime runs: {exc}"
                ) from None
            return payload
        if not self.accepts(model):
            raise FlavorError(
                f"the onnx flavor saves an onnx.ModelProto or its bytes, not a {type(model)}"
            )
        return model.SerializeToString()  # type: ignore[attr-defined]

    def load(self, payload: bytes) -> object:
        import onnxruntime

        return onnxruntime.InferenceSession(payload, providers=_CPU)

    def predict(self, model: object, inputs: object) -> object:
        # The model as given to `save` (a ModelProto) runs too, through a session of its own.
        session: Any = self.load(self.save(model)) if self.accepts(model) else model
        first = session.get_inputs()[0]
        dtype = _ELEMENT_TYPES.get(first.type)
        if dtype is not None:
            shape = tuple(n if isinstance(n, int) else FREE for n in first.shape)
            inputs = conform(Signature(TensorSchema(dtype, shape)), inputs)
        output = session.get_outputs()[0].name
        return session.run([output], {first.name: inputs})[0]
