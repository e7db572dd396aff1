"""XGBoost: Boosters and the scikit-learn wrappers (XGBClassifier, XGBRegressor, ...), stored
in XGBoost's own UBJSON model format, which newer XGBoost releases load (pickle is not
portable across XGBoost versions).

For a wrapper, its class path rides along as a booster attribute so loading rebuilds the same
class (`load_model`) and `predict` gives the same outputs, e.g. class labels for a classifier.
"""

from __future__ import annotations

import sys

from cairn.models.flavors.classpath import class_path, import_class

NAME = "xgboost"
_CLASS_ATTR = "cairn_class"


class XGBoostFlavor:
    name = NAME

    def accepts(self, model: object) -> bool:
        xgb = sys.modules.get("xgboost")
        return xgb is not None and isinstance(model, xgb.XGBModel | xgb.Booster)

    def save(self, model: object, *, example: object | None = None) -> bytes:
        import xgboost as xgb

        if isinstance(model, xgb.Booster):
            return bytes(model.save_raw(raw_format="ubj"))
        booster = model.get_booster()  # type: ignore[attr-defined]
        booster.set_attr(**{_CLASS_ATTR: class_path(type(model))})
        try:
            return bytes(booster.save_raw(raw_format="ubj"))
        finally:
            booster.set_attr(**{_CLASS_ATTR: None})

    def load(self, payload: bytes) -> object:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(payload))
        path = booster.attr(_CLASS_ATTR)
        if path is None:
            return booster
        model = import_class(path)()
        model.load_model(bytearray(payload))
        model.get_booster().set_attr(**{_CLASS_ATTR: None})
        return model

    def predict(self, model: object, inputs: object) -> object:
        import xgboost as xgb

        if isinstance(model, xgb.Booster):
            return model.predict(xgb.DMatrix(inputs))
        return model.predict(inputs)  # type: ignore[attr-defined]
