"""scikit-learn estimators and pipelines: stored and run as `pyfunc` does (cloudpickle, so a
custom transformer defined in a notebook travels with the model; `predict`), under their own
name so a registry can tell scikit-learn models apart.

Pickle is what scikit-learn itself documents for persistence; as with `joblib.load`, loading
needs a scikit-learn close to the one that saved the model.
"""

from __future__ import annotations

import sys

from cairn.models.flavors.pyfunc import PyfuncFlavor

NAME = "sklearn"


class SklearnFlavor(PyfuncFlavor):
    name = NAME

    def accepts(self, model: object) -> bool:
        base = sys.modules.get("sklearn.base")
        return (
            base is not None
            and isinstance(model, base.BaseEstimator)
            and callable(getattr(model, "predict", None))
        )
