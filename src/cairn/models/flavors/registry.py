"""Which flavor saves a model (the first that accepts it, or the one named) and which loads a
payload (by the name stored with it).

The built-in flavors are tried most specific first: XGBoost and LightGBM models are also
scikit-learn estimators, and almost anything has a `predict` or is callable, so `pyfunc`
comes last.
"""

from __future__ import annotations

import threading

from cairn.errors import FlavorError
from cairn.models.flavors.lightgbm import LightGBMFlavor
from cairn.models.flavors.onnx import OnnxFlavor
from cairn.models.flavors.protocol import Flavor
from cairn.models.flavors.pyfunc import PyfuncFlavor
from cairn.models.flavors.sklearn import SklearnFlavor
from cairn.models.flavors.torch import TorchFlavor
from cairn.models.flavors.xgboost import XGBoostFlavor

# The flavor modules import their libraries only to save, load or predict, so building the
# table here costs `import cairn` nothing worth deferring.
_lock = threading.Lock()
_flavors: list[Flavor] = [  # in detection order, without the fallback
    XGBoostFlavor(),
    LightGBMFlavor(),
    TorchFlavor(),
    OnnxFlavor(),
    SklearnFlavor(),
]
_fallback: Flavor = PyfuncFlavor()
_by_name: dict[str, Flavor] = {f.name: f for f in [*_flavors, _fallback]}


def register_flavor(flavor: Flavor, *, first: bool = True) -> None:
    """Add a flavor. `first=True` tries it before every other (including the built-in ones);
    otherwise it goes last, still before `pyfunc`. A flavor with an existing name replaces it,
    for loading too."""
    if not isinstance(getattr(flavor, "name", None), str) or not flavor.name:
        raise FlavorError("a flavor needs a non-empty str `name`")
    if not isinstance(flavor, Flavor):
        raise FlavorError(f"flavor {flavor.name!r} lacks one of accepts, save, load, predict")
    global _fallback
    with _lock:
        _flavors[:] = [f for f in _flavors if f.name != flavor.name]
        if _fallback.name == flavor.name:
            _fallback = flavor
        elif first:
            _flavors.insert(0, flavor)
        else:
            _flavors.append(flavor)
        _by_name[flavor.name] = flavor


def flavors() -> list[Flavor]:
    """The flavors in the order `detect` tries them, `pyfunc` last."""
    return [*_flavors, _fallback]


def flavor_names() -> list[str]:
    """Every name `flavor_named` knows, sorted."""
    return sorted(_by_name)


def detect(model: object) -> Flavor:
    """The first flavor that accepts `model`, or a FlavorError naming its type."""
    for flavor in flavors():
        if flavor.accepts(model):
            return flavor
    if isinstance(model, type):
        what = f"the class {model.__module__}.{model.__qualname__} (a model is an instance)"
    else:
        what = f"a {type(model).__module__}.{type(model).__qualname__}"
    raise FlavorError(
        f"no flavor can save {what}: a model needs a `predict` method or to be callable "
        f"(known flavors: {', '.join(flavor_names())}); pass flavor= to force one"
    )


def flavor_named(name: str) -> Flavor:
    """The flavor registered as `name`, or a FlavorError listing the known names."""
    flavor = _by_name.get(name)
    if flavor is None:
        raise FlavorError(f"unknown flavor {name!r} (known: {', '.join(flavor_names())})")
    return flavor
