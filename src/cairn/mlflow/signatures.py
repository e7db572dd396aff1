"""The `signature=` a model is logged with: cairn's `Signature`, or MLflow's `ModelSignature`
(read through its `to_dict()`, so MLflow need not be importable here), or None to infer
one from the input example as MLflow does."""

from __future__ import annotations

import json

from cairn.errors import SignatureError
from cairn.models.signature import (
    FREE,
    Column,
    FrameSchema,
    Schema,
    Signature,
    TensorSchema,
    infer_signature,
)

# MLflow's column types as NumPy dtypes (cairn's dtype names); the rest are not checked.
_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "str",
    "datetime": "datetime64[ns]",
}
_ANY = "object"


def logged_signature(signature: object, example: object, predict: object) -> Signature | None:
    """The signature to store: the one given (cairn's or MLflow's), else one inferred from
    `example` and `predict(example)`, else None. `signature=False` means none."""
    if signature is False:
        return None
    if isinstance(signature, Signature):
        return signature
    if signature is not None:
        return from_mlflow(signature)
    if example is None:
        return None
    return infer_signature(example, predict(example))


def from_mlflow(signature: object) -> Signature:
    """cairn's form of an MLflow `ModelSignature`."""
    to_dict = getattr(signature, "to_dict", None)
    if not callable(to_dict):
        raise SignatureError(
            f"signature= takes a cairn Signature or an MLflow ModelSignature, not a "
            f"{type(signature).__qualname__}"
        )
    specs = to_dict()
    inputs = _schema(specs.get("inputs"))
    if inputs is None:
        raise SignatureError("an MLflow signature without inputs says nothing to check")
    return Signature(inputs, _schema(specs.get("outputs")))


def _schema(text: str | None) -> Schema | None:
    if not text:
        return None
    specs = json.loads(text)
    tensors = [s["tensor-spec"] for s in specs if s.get("type") == "tensor"]
    if tensors:
        if len(tensors) != 1 or len(specs) != 1:
            raise SignatureError("cairn's signatures describe one tensor, not several named ones")
        spec = tensors[0]
        return TensorSchema(spec["dtype"], tuple(int(n) for n in spec["shape"]))
    dtypes = [_DTYPES.get(s.get("type"), _ANY) for s in specs]
    if len(specs) == 1 and specs[0].get("name") is None:  # one unnamed column: a vector
        return TensorSchema(dtypes[0], (FREE,))
    names = [str(s.get("name", i)) for i, s in enumerate(specs)]
    return FrameSchema(tuple(Column(n, d) for n, d in zip(names, dtypes, strict=True)))
