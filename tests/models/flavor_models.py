"""Tiny models of every flavor, built in milliseconds, and the importable pieces some of them
need (a fresh process loads them by module path)."""

from __future__ import annotations

import numpy as np
import torch

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def classification_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four float features, three separable classes 0, 1, 2."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 4)) + y[:, None] * 1.5
    return X, y


def frame(X: np.ndarray):
    import pandas as pd

    return pd.DataFrame(X, columns=FEATURES)


# --- pyfunc --------------------------------------------------------------------------------


def doubled_row_sums(inputs: np.ndarray) -> np.ndarray:
    """A model that is a plain function."""
    return np.asarray(inputs).sum(axis=1) * 2


class Thresholder:
    """A model that is an object with `predict`."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return (np.asarray(inputs)[:, 0] > self.cut).astype(np.int64)


# --- torch ---------------------------------------------------------------------------------


class SmallNet(torch.nn.Module):
    """Scriptable."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.width = width
        self.hidden = torch.nn.Linear(4, width)
        self.out = torch.nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


class SummedHeads(torch.nn.Module):
    """Not scriptable (TorchScript has no generator expressions); `heads` is read back from
    the attribute of the same name when only its state dict can be stored."""

    def __init__(self, heads: int, scale: float = 1.0) -> None:
        super().__init__()
        self.heads = heads
        self.scale = scale
        self.layers = torch.nn.ModuleList(torch.nn.Linear(4, 3) for _ in range(heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(layer(x) for layer in self.layers) * self.scale


def trained_torch(module: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    for p in module.parameters():
        torch.nn.init.normal_(p)
    return module


# --- onnx ----------------------------------------------------------------------------------


def onnx_affine(weights: np.ndarray, bias: np.ndarray):
    """y = x @ weights + bias as an ONNX graph built by hand, batch dimension free."""
    from onnx import TensorProto, helper, numpy_helper

    n_in, n_out = weights.shape
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["h"]),
            helper.make_node("Add", ["h", "B"], ["y"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # what onnxruntime reads, whatever onnx release wrote it
    return model
