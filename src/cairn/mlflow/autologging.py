"""Autologging of scikit-learn fits, recorded as MLflow's `mlflow.sklearn.autolog()` records
them.

While it is on, `fit`, `fit_transform` and `fit_predict` of scikit-learn's estimators (those
`sklearn.utils.all_estimators()` lists, pipelines and the parameter searches; not
preprocessing, imputation, feature extraction and selection, nor ColumnTransformer, as in
MLflow) record into the active run, or else into a run of their own named after the
estimator and tagged `mlflow.autologging`:

- params: `get_params()` (deep, except for a parameter search, whose seed estimator is not
  what it tuned) and a search's `best_<param>`;
- tags: `estimator_name`, `estimator_class`;
- metrics on the data it was fitted on: `training_score` (the estimator's `score`), for a
  classifier `training_accuracy_score`, `training_precision_score`,
  `training_recall_score`, `training_f1_score` (weighted, or binary for `pos_label`),
  `training_log_loss` and `training_roc_auc` (given `predict_proba`), for a regressor
  `training_mean_squared_error`, `training_root_mean_squared_error`,
  `training_mean_absolute_error`, `training_r2_score`; a search's `best_cv_score`;
- the fitted model as `model` (a search's best estimator also as `best_estimator`) through
  `log_model` with cairn's sklearn flavor, its signature inferred from the first rows.

Only the outermost fit records: a pipeline's steps and a search's candidates fit quietly.
A failure to record is a warning; the fit itself is never changed. Not recorded (MLflow
does): plots, metrics of later `score` and metric calls, a child run per search candidate,
dataset digests (`log_input` records a dataset in lineage).
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from cairn.mlflow.fluent import param_value
from cairn.mlflow.models import log_model
from cairn.mlflow.runs import start_run
from cairn.mlflow.signatures import logged_signature
from cairn.models.flavors.sklearn import NAME as SKLEARN_FLAVOR
from cairn.tracking import active
from cairn.tracking.run import Run

log = logging.getLogger(__name__)

AUTOLOG_TAG = "mlflow.autologging"
PREFIX = "training_"
EXAMPLE_ROWS = 5  # rows of the training data a signature is inferred from, as MLflow
_METHODS = ("fit", "fit_transform", "fit_predict")
_LEFT_ALONE = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
    "sklearn.compose._column_transformer.ColumnTransformer",
)


@dataclass(frozen=True)
class Settings:
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_models: bool = True
    silent: bool = False
    registered_model_name: str | None = None
    pos_label: object = None
    extra_tags: dict = field(default_factory=dict)


_settings: Settings | None = None
_patched: dict[tuple[type, str], object] = {}  # (class, method) -> its own attribute before
_INHERITED = object()  # ...or this, when the class inherited the method
_lock = threading.Lock()  # turning autologging on and off
# Fits in progress, process-wide as MLflow counts them: a search's candidates fitted on
# joblib's threads are inside it too.
_depth = 0
_depth_lock = threading.Lock()


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: dict | None = None,
) -> None:
    """MLflow's `mlflow.autolog()`: autologging for every library cairn.mlflow covers, that
    is scikit-learn, when it is installed."""
    if importlib.util.find_spec("sklearn") is None:
        return
    sklearn_autolog(
        log_input_examples=log_input_examples,
        log_model_signatures=log_model_signatures,
        log_models=log_models,
        disable=disable,
        silent=silent,
        extra_tags=extra_tags,
    )


def sklearn_autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str | None = None,
    registered_model_name: str | None = None,
    pos_label: object = None,
    extra_tags: dict | None = None,
) -> None:
    """MLflow's `mlflow.sklearn.autolog()` (see the module for what is recorded);
    `disable=True` turns it off and gives the estimators their methods back."""
    global _settings
    with _lock:
        if disable:
            _unpatch()
            _settings = None
            return
        _settings = Settings(
            log_input_examples, log_model_signatures, log_models, silent,
            registered_model_name, pos_label, dict(extra_tags or {}),
        )  # fmt: skip
        if not _patched:
            _patch()


def _estimator_classes() -> list[type]:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    classes = {cls for _, cls in all_estimators()} | {Pipeline, GridSearchCV, RandomizedSearchCV}
    return sorted(
        (c for c in classes if not f"{c.__module__}.{c.__qualname__}".startswith(_LEFT_ALONE)),
        key=lambda c: f"{c.__module__}.{c.__qualname__}",
    )


def _patch() -> None:
    # Every original is looked up before any is replaced, so a class that inherits a method
    # from another patched class wraps the original, not the other's wrapper.
    found = []
    for cls in _estimator_classes():
        for method in _METHODS:
            raw = inspect.getattr_static(cls, method, None)
            replacement = _recording_version(raw)
            if replacement is not None:
                found.append((cls, method, cls.__dict__.get(method, _INHERITED), replacement))
    for cls, method, own, replacement in found:
        _patched[(cls, method)] = own
        setattr(cls, method, replacement)


def _recording_version(raw: object) -> object | None:
    """`raw` (a method as the class holds it) made to record, or None if it is not one."""
    if inspect.isfunction(raw):
        return _recording(raw)
    # scikit-learn's `available_if`: a descriptor whose method exists only when a check
    # passes (a pipeline's fit_predict); the replacement keeps the check.
    fn, check = getattr(raw, "fn", None), getattr(raw, "check", None)
    if inspect.isfunction(fn) and callable(check):
        return type(raw)(_recording(fn), check, attribute_name=raw.attribute_name)
    return None


def _unpatch() -> None:
    for (cls, method), own in _patched.items():
        if own is _INHERITED:
            delattr(cls, method)
        else:
            setattr(cls, method, own)
    _patched.clear()


def _recording(original: Callable) -> Callable:
    names = list(inspect.signature(original).parameters)[1:]  # after self

    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        global _depth
        settings = _settings
        if settings is None or _depth:
            return original(self, *args, **kwargs)
        with _depth_lock:
            _depth += 1
        try:
            return _fit_recorded(settings, original, names, self, args, kwargs)
        finally:
            with _depth_lock:
                _depth -= 1

    return fit


def _fit_recorded(
    settings: Settings, original: Callable, names: list[str], estimator, args, kwargs
) -> object:
    run = active.current()
    if run is not None:
        return _fit_in(run, settings, original, names, estimator, args, kwargs)
    tags = {AUTOLOG_TAG: SKLEARN_FLAVOR, **settings.extra_tags}
    with start_run(run_name=type(estimator).__name__, tags=tags) as started:
        return _fit_in(started.cairn_run, settings, original, names, estimator, args, kwargs)


def _fit_in(
    run: Run, settings: Settings, original: Callable, names: list[str], estimator, args, kwargs
) -> object:
    X, y, weight = _training_data(names, args, kwargs)
    search = _is_search(estimator)
    cls = type(estimator)
    params = estimator.get_params(deep=not search)
    _quietly(settings, "params", run.log_params, {k: param_value(v) for k, v in params.items()})
    tags = {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}
    _quietly(settings, "tags", run.set_tags, tags)
    result = original(estimator, *args, **kwargs)
    if settings.log_models:
        _quietly(settings, "model", _log_fitted, settings, estimator, "model", X, True)
    if y is not None:
        _quietly(
            settings,
            "training metrics",
            run.log,
            _training_metrics(settings, estimator, X, y, weight),
        )
    if search:
        _quietly(settings, "search results", _log_search, run, settings, estimator, X)
    return result


def _training_data(names: list[str], args: tuple, kwargs: dict) -> tuple[object, object, object]:
    """(X, y, sample_weight) as the fit was given them; None for those it was not."""
    x_name, y_name = (names + ["", ""])[:2]
    X = args[0] if args else kwargs.get(x_name)
    y = args[1] if len(args) > 1 else kwargs.get(y_name)
    weight = None
    if "sample_weight" in names:
        position = names.index("sample_weight")
        weight = args[position] if len(args) > position else kwargs.get("sample_weight")
    return X, y, weight


def _is_search(estimator: object) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, GridSearchCV | RandomizedSearchCV)


def _log_fitted(
    settings: Settings, estimator: object, path: str, X: object, registered: bool
) -> None:
    example = _head(X)
    log_model(
        estimator,
        path,
        flavor=SKLEARN_FLAVOR,
        signature=_signature(settings, estimator, example),
        input_example=example if settings.log_input_examples else None,
        registered_model_name=settings.registered_model_name if registered else None,
    )


def _signature(settings: Settings, estimator: object, example: object) -> object:
    """The signature inferred from `example` and what the model makes of it; False (none)
    when it is not wanted or cannot be inferred."""
    predict = getattr(estimator, "predict", None) or getattr(estimator, "transform", None)
    if not settings.log_model_signatures or example is None or predict is None:
        return False
    try:
        return logged_signature(None, example, predict) or False
    except Exception as exc:
        if not settings.silent:
            log.warning("autolog could not infer the model's signature: %s", exc)
        return False


def _log_search(run: Run, settings: Settings, search: object, X: object) -> None:
    if hasattr(search, "best_params_"):
        run.log_params({f"best_{k}": param_value(v) for k, v in search.best_params_.items()})
    if hasattr(search, "best_score_"):
        run.log({"best_cv_score": search.best_score_})
    if settings.log_models and hasattr(search, "best_estimator_"):
        _log_fitted(settings, search.best_estimator_, "best_estimator", X, False)


def _training_metrics(settings: Settings, estimator, X, y, weight) -> dict[str, float]:
    """MLflow's training metrics of a fitted estimator; one that cannot be computed is
    left out with a warning."""
    from sklearn.base import is_classifier, is_regressor

    metrics: dict[str, Callable[[], float]] = {}
    if is_classifier(estimator):
        metrics = _classifier_metrics(estimator, X, y, weight, settings.pos_label)
    elif is_regressor(estimator):
        metrics = _regressor_metrics(estimator, X, y, weight)
    if callable(getattr(estimator, "score", None)):
        takes_weight = "sample_weight" in inspect.signature(estimator.score).parameters
        metrics[PREFIX + "score"] = lambda: (
            estimator.score(X, y, weight) if takes_weight else estimator.score(X, y)
        )
    values = {}
    for name, compute in metrics.items():
        try:
            values[name] = compute()
        except Exception as exc:
            if not settings.silent:
                log.warning(
                    "autolog could not compute %s of %s: %s", name, type(estimator).__name__, exc
                )
    return values


def _classifier_metrics(estimator, X, y, weight, pos_label) -> dict[str, Callable[[], float]]:
    from sklearn import metrics

    predicted = functools.cache(lambda: estimator.predict(X))  # once, when first needed
    average = "weighted" if pos_label is None else "binary"
    by_class = {"pos_label": pos_label, "average": average, "sample_weight": weight}
    found = {
        PREFIX + "precision_score": lambda: metrics.precision_score(y, predicted(), **by_class),
        PREFIX + "recall_score": lambda: metrics.recall_score(y, predicted(), **by_class),
        PREFIX + "f1_score": lambda: metrics.f1_score(y, predicted(), **by_class),
        PREFIX + "accuracy_score": lambda: metrics.accuracy_score(
            y, predicted(), sample_weight=weight
        ),
    }
    if callable(getattr(estimator, "predict_proba", None)):
        proba = functools.cache(lambda: estimator.predict_proba(X))

        def positive_score():  # binary: the greater label's probability, as roc_auc_score wants
            p = proba()
            return p[:, 1] if p.ndim == 2 and p.shape[1] == 2 else p

        found[PREFIX + "log_loss"] = lambda: metrics.log_loss(y, proba(), sample_weight=weight)
        found[PREFIX + "roc_auc"] = lambda: metrics.roc_auc_score(
            y, positive_score(), average="weighted", sample_weight=weight, multi_class="ovo"
        )
    return found


def _regressor_metrics(estimator, X, y, weight) -> dict[str, Callable[[], float]]:
    from sklearn import metrics

    predicted = functools.cache(lambda: estimator.predict(X))
    common = {"sample_weight": weight, "multioutput": "uniform_average"}
    mse = functools.cache(lambda: metrics.mean_squared_error(y, predicted(), **common))
    return {
        PREFIX + "mean_squared_error": mse,
        PREFIX + "root_mean_squared_error": lambda: math.sqrt(mse()),
        PREFIX + "mean_absolute_error": lambda: metrics.mean_absolute_error(
            y, predicted(), **common
        ),
        PREFIX + "r2_score": lambda: metrics.r2_score(y, predicted(), **common),
    }


def _head(X: object) -> object:
    """The first rows of the training data (a frame's or an array's), or None."""
    try:
        return X[:EXAMPLE_ROWS]
    except Exception:  # not sliceable (a generator, a sparse format without rows): no example
        return None


def _quietly(settings: Settings, what: str, record: Callable, *args) -> None:
    try:
        record(*args)
    except Exception as exc:
        if not settings.silent:
            log.warning("autolog could not record the %s: %s", what, exc)
