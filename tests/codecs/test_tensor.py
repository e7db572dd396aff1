"""torch is optional: these run only where `import torch` works (it does in this project's env)."""

from collections import OrderedDict

import numpy as np
import pytest

from .conftest import roundtrip_via_bytes

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

pytestmark = pytest.mark.skipif(torch is None, reason="torch is not installed")

DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "uint8", "int64", "bool",
          "complex64"]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 5), (2, 3, 4)])
def test_tensor_roundtrip(dtype, shape):
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(shape, generator=g) * 100).to(getattr(torch, dtype))
    codec, out = roundtrip_via_bytes(t)
    assert codec == "torch.tensor"
    assert out.dtype == t.dtype and out.shape == t.shape
    assert torch.equal(out, t)
    out.add_(1) if dtype != "bool" else out.logical_not_()  # writable


def test_non_contiguous_and_grad():
    t = torch.arange(12.0).reshape(3, 4).T.requires_grad_(True)
    _, out = roundtrip_via_bytes(t)
    assert out.requires_grad and torch.equal(out.detach(), t.detach())


def test_state_dict():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    sd = model.state_dict()
    codec, out = roundtrip_via_bytes(sd)
    assert codec == "torch.tensor"
    assert type(out) is OrderedDict and list(out) == list(sd)
    for k in sd:
        assert out[k].dtype == sd[k].dtype and torch.equal(out[k], sd[k])
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    fresh.load_state_dict(out)


def test_plain_dict_and_nan():
    d = {"a": torch.tensor([float("nan"), 1.0]), "b": torch.zeros(2, dtype=torch.int32)}
    _, out = roundtrip_via_bytes(d)
    assert type(out) is dict
    assert np.array_equal(out["a"].numpy(), d["a"].numpy(), equal_nan=True)
