"""LightGBM: Boosters as LightGBM's model string, the scikit-learn wrappers (LGBMClassifier,
...) pickled.

LightGBM's maintainers do not support rebuilding a wrapper from a model string (its fitted
state lives in private attributes; lightgbm#1942, #6854) and document pickling it, which
stores the booster as that same model string (`Booster.__getstate__`). Loading a wrapper
therefore needs a LightGBM whose wrapper attributes match; a bare Booster loads in any
LightGBM that reads the model string format.
"""

from __future__ import annotations

import pickle
import sys

NAME = "lightgbm"
_MODEL_STRING_START = b"tree\n"  # the first line of every LightGBM model string


class LightGBMFlavor:
    name = NAME

    def accepts(self, model: object) -> bool:
        lgb = sys.modules.get("lightgbm")
        return lgb is not None and isinstance(model, lgb.LGBMModel | lgb.Booster)

    def save(self, model: object, *, example: object | None = None) -> bytes:
        import lightgbm as lgb

        if isinstance(model, lgb.Booster):
            return model.model_to_string(num_iteration=-1).encode()
        return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, payload: bytes) -> object:
        import lightgbm as lgb

        if payload.startswith(_MODEL_STRING_START):
            return lgb.Booster(model_str=payload.decode())
        return pickle.loads(payload)

    def predict(self, model: object, inputs: object) -> object:
        return model.predict(inputs)  # type: ignore[attr-defined]
