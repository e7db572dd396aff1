"""Model flavors: how each kind of model (scikit-learn, XGBoost, LightGBM, PyTorch, ONNX, any
Python callable) is saved to one payload, loaded back and run.

`detect` picks the first flavor that accepts a model; `flavor_named` finds the one whose name
is stored with a model version. A flavor's library is imported only when one of its models is
saved or loaded.
"""

from cairn.models.flavors.protocol import Flavor
from cairn.models.flavors.registry import (
    detect,
    flavor_named,
    flavor_names,
    flavors,
    register_flavor,
)

__all__ = ["Flavor", "detect", "flavor_named", "flavor_names", "flavors", "register_flavor"]
