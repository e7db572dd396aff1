"""PyTorch tensors and state dicts (str -> tensor mappings), through the ndarray codec.

torch is imported only when a value already is a tensor (it is then in sys.modules) or when a
tensor blob is decoded. Dtypes NumPy lacks (bfloat16, float8, ...) are stored as same-width
integers and reinterpreted on load, so the bits round-trip exactly. Tensors are moved to CPU and
come back on CPU; `requires_grad` is kept. Storage sharing between entries of a state dict (tied
weights) is not preserved: each entry is stored on its own.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

from cairn.codecs._base import Encoded
from cairn.codecs._parts import pack_arrays, unpack_arrays
from cairn.errors import CodecError

NAME = "torch.tensor"


def _is_dense_tensor(torch: Any, value: object) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and value.layout == torch.strided
        and not (value.is_quantized or value.is_nested)
    )


def _to_numpy(torch: Any, t: Any) -> tuple[Any, dict]:
    meta = {"dtype": str(t.dtype).removeprefix("torch."), "requires_grad": bool(t.requires_grad)}
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    try:
        return t.numpy(), meta
    except TypeError:  # no NumPy equivalent: keep the bits under a same-width integer type
        ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
        width = t.element_size()
        if width not in ints:
            raise CodecError(f"cannot store torch dtype {t.dtype}") from None
        return t.contiguous().view(ints[width]).numpy(), {**meta, "bits": True}


def _from_numpy(torch: Any, arr: Any, meta: dict) -> Any:
    t = torch.from_numpy(arr)
    if meta.get("bits"):
        t = t.view(getattr(torch, meta["dtype"]))
    if meta.get("requires_grad"):
        t.requires_grad_(True)
    return t


class TorchCodec:
    name = NAME

    def handles(self, value: object) -> bool:
        torch = sys.modules.get("torch")
        if torch is None:
            return False
        if _is_dense_tensor(torch, value):
            return True
        return (
            isinstance(value, dict)
            and len(value) > 0
            and all(isinstance(k, str) and _is_dense_tensor(torch, v) for k, v in value.items())
        )

    def encode(self, value: object) -> Encoded:
        import torch

        if isinstance(value, dict):
            keys = list(value)
            tensors = [value[k] for k in keys]
            kind = "ordereddict" if isinstance(value, OrderedDict) else "dict"
        else:
            keys, tensors, kind = [], [value], "tensor"
        arrays, tmeta = [], []
        for t in tensors:
            arr, m = _to_numpy(torch, t)
            arrays.append(arr)
            tmeta.append(m)
        data, parts = pack_arrays(arrays)
        meta = {"kind": kind, "keys": keys, "tensors": tmeta, "parts": parts}
        return Encoded(self.name, data, meta)

    def decode(self, data: memoryview, meta: dict) -> object:
        import torch

        arrays = unpack_arrays(data, meta["parts"])
        tensors = [_from_numpy(torch, a, m) for a, m in zip(arrays, meta["tensors"], strict=True)]
        kind = meta["kind"]
        if kind == "tensor":
            return tensors[0]
        mapping = OrderedDict if kind == "ordereddict" else dict
        return mapping(zip(meta["keys"], tensors, strict=True))
