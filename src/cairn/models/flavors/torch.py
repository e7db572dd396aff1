"""PyTorch modules, saved so that they load without the code that defined them where the
model allows it:

1. with an example input: `torch.export` (the batch dimension left free), run in eval mode;
2. otherwise, or if export fails: TorchScript (`torch.jit.script`; a module that already is
   a ScriptModule is saved as it is);
3. otherwise the state dict plus the module's class as an importable `module:QualName` and
   its constructor arguments. Those are read from attributes named like the `__init__`
   parameters (scikit-learn's `get_params` convention, JSON values only); a parameter
   without such an attribute takes its default. Loading then imports that class, so its
   module must be importable where the model is loaded, and an argument kept under another
   name than its parameter's silently falls back to the default: prefer 1 or 2.

Predictions run under `torch.no_grad()` on CPU; floating inputs are cast to the module's
floating parameter dtype (a float64 NumPy array into a float32 network).
"""

from __future__ import annotations

import inspect
import io
import json
import sys
import warnings
from typing import Any

from cairn.errors import FlavorError
from cairn.models.flavors.classpath import class_path, import_class
from cairn.states import TextEnum

NAME = "torch"


class TorchFormat(TextEnum):
    """How a module's payload body is written; stored in the payload's header line."""

    EXPORT = "torch.export"
    SCRIPT = "torchscript"
    STATE_DICT = "state_dict"


class TorchFlavor:
    name = NAME

    def accepts(self, model: object) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(model, torch.nn.Module)

    def save(self, model: object, *, example: object | None = None) -> bytes:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise FlavorError(f"the torch flavor saves a torch.nn.Module, not a {type(model)}")
        if isinstance(model, torch.jit.ScriptModule):
            return _framed({"format": TorchFormat.SCRIPT}, _script_bytes(torch, model))
        failures = []
        if example is not None:
            try:
                return _framed({"format": TorchFormat.EXPORT}, _export_bytes(torch, model, example))
            except Exception as exc:
                failures.append(f"torch.export: {_first_line(exc)}")
        else:
            failures.append("torch.export: needs an example input")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.script(model)
            return _framed({"format": TorchFormat.SCRIPT}, _script_bytes(torch, scripted))
        except Exception as exc:
            failures.append(f"torch.jit.script: {_first_line(exc)}")
        try:
            header = _rebuild_header(torch, model)
        except FlavorError as exc:
            failures.append(f"state dict: {exc}")
            raise FlavorError(
                f"cannot save this {type(model).__qualname__} so that it loads elsewhere ("
                + "; ".join(failures)
                + "); pass an example, make it scriptable or its class importable, "
                "or force flavor='pyfunc' (cloudpickle)"
            ) from None
        buf = io.BytesIO()
        torch.save({"state_dict": model.state_dict()}, buf)
        return _framed(header, buf.getvalue())

    def load(self, payload: bytes) -> object:
        import torch

        header, body = _unframed(payload)
        fmt = TorchFormat(header["format"])
        if fmt is TorchFormat.EXPORT:
            return torch.export.load(io.BytesIO(body)).module()
        if fmt is TorchFormat.SCRIPT:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(io.BytesIO(body), map_location="cpu")
            return module.eval()
        module = import_class(header["class"])(**header["init"])
        saved = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
        module.load_state_dict(saved["state_dict"])
        return module.eval()

    def predict(self, model: object, inputs: object) -> object:
        import torch

        with torch.no_grad():
            out = model(_as_tensor(torch, model, inputs))  # type: ignore[operator]
        return _to_numpy(torch, out)


def _framed(header: dict, body: bytes) -> bytes:
    # One JSON line (json.dumps never emits a raw newline), then the body as torch wrote it.
    return json.dumps(header).encode() + b"\n" + body


def _unframed(payload: bytes) -> tuple[dict, bytes]:
    line, sep, body = bytes(payload).partition(b"\n")
    try:
        header = json.loads(line) if sep else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or "format" not in header:
        raise FlavorError("not a payload of the torch flavor (no header line)")
    return header, body


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _script_bytes(torch: Any, scripted: Any) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, buf)
    return buf.getvalue()


def _export_bytes(torch: Any, model: Any, example: object) -> bytes:
    from torch.export import Dim, ShapesCollection

    x = _as_tensor(torch, model, example)
    if x.ndim == 0:
        raise FlavorError("the example has no batch dimension")
    if x.shape[0] == 1:
        # export specializes a dimension of size 1 to a constant: give it two rows.
        x = torch.cat([x, x])
    shapes = ShapesCollection()
    shapes[x] = {0: Dim.AUTO}
    was_training = model.training
    model.eval()
    try:
        program = torch.export.export(
            model, (x,), dynamic_shapes=shapes.dynamic_shapes(model, (x,))
        )
    finally:
        model.train(was_training)
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()


def _rebuild_header(torch: Any, model: Any) -> dict:
    """The class path and constructor arguments that rebuild `model`, checked by building it
    here and comparing state dict keys and shapes."""
    cls = type(model)
    path = class_path(cls)
    init: dict[str, object] = {}
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if hasattr(model, param.name):
            value = getattr(model, param.name)
            try:
                init[param.name] = json.loads(json.dumps(value))
            except (TypeError, ValueError):
                raise FlavorError(
                    f"constructor argument {param.name!r} is a {type(value).__qualname__}, "
                    "not a JSON value"
                ) from None
        elif param.default is param.empty:
            raise FlavorError(
                f"{path} needs constructor argument {param.name!r} and the module has no "
                "attribute of that name to read it from"
            )
    try:
        fresh = cls(**init)
    except Exception as exc:
        raise FlavorError(f"{path}(**{init}) fails: {_first_line(exc)}") from None
    if _shapes(fresh) != _shapes(model):
        raise FlavorError(f"{path}(**{init}) builds a module with other parameters")
    return {"format": TorchFormat.STATE_DICT, "class": path, "init": init}


def _shapes(module: Any) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def _as_tensor(torch: Any, model: Any, inputs: object) -> Any:
    if isinstance(inputs, torch.Tensor):
        x = inputs
    else:
        to_numpy = getattr(inputs, "to_numpy", None)  # pandas and polars frames
        import numpy as np

        x = torch.from_numpy(np.ascontiguousarray(to_numpy() if callable(to_numpy) else inputs))
    if x.is_floating_point():
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        if dtype is not None and dtype != x.dtype:
            x = x.to(dtype)
    return x


def _to_numpy(torch: Any, out: object) -> object:
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    if isinstance(out, tuple | list):
        return type(out)(_to_numpy(torch, item) for item in out)
    if isinstance(out, dict):
        return {key: _to_numpy(torch, value) for key, value in out.items()}
    return out
