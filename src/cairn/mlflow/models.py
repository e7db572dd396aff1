"""Models logged to a run, registered, and loaded back by MLflow URI, on cairn's flavors.

`log_model` saves the model with its cairn flavor (the one named, else the first that takes
it: scikit-learn, XGBoost, LightGBM, torch, ONNX, pyfunc) as an artifact of kind `model` of
the active run, at its MLflow path (`runs:/RUN_ID/model`), with the flavor and the
signature in the artifact's meta; `registered_model_name=` also registers it as the next
version of that model (a new model is owned by the current user). `load_model` takes
`runs:/RUN_ID/PATH` and `models:/NAME/VERSION`, `models:/NAME@ALIAS`,
`models:/NAME/latest`; inside a run, the load is recorded in its lineage.

MLflow's environment options (`conda_env`, `pip_requirements`, `code_paths`, ...) are
accepted and have nothing to do: cairn records each run's environment itself.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from cairn.config import current_user
from cairn.errors import CairnError, InvalidValueError, NotFoundError
from cairn.mlflow.files import PATH_KEY, file_at, read_bytes
from cairn.mlflow.runs import run_to_log
from cairn.mlflow.signatures import logged_signature
from cairn.mlflow.uris import (
    RUNS,
    clean_path,
    is_models_uri,
    is_runs_uri,
    model_reference,
    run_path,
)
from cairn.models.flavors.protocol import Flavor
from cairn.models.flavors.registry import detect, flavor_named
from cairn.models.loaded import LoadedModel, from_payload
from cairn.models.loading import load as load_version
from cairn.models.signature import Signature, conform
from cairn.models.signature import infer_signature as infer_cairn_signature
from cairn.models.versions import KIND as MODEL_KIND
from cairn.models.versions import ModelVersion, flavor_payload, get_model, register
from cairn.store import get_store
from cairn.tracking import active, query
from cairn.tracking.artifacts import ArtifactRef, record_input, save_artifact
from cairn.tracking.validation import check_name

log = logging.getLogger(__name__)

DEFAULT_PATH = "model"
FLAVOR_KEY = "flavor"
SIGNATURE_KEY = "signature"
# MLflow's log_model keywords about packaging and serving environments.
ENVIRONMENT_OPTIONS = frozenset({
    "conda_env", "code_paths", "code_path", "serialization_format", "await_registration_for",
    "pip_requirements", "extra_pip_requirements", "pyfunc_predict_fn", "metadata", "params",
    "model_type", "step", "model_id", "skops_trusted_types", "prompts", "resources",
})  # fmt: skip


@dataclass(frozen=True)
class ModelInfo:
    """What `log_model` returns (MLflow's `ModelInfo`)."""

    name: str
    artifact_path: str
    model_uri: str
    run_id: str
    flavors: dict[str, dict]
    signature: Signature | None
    registered_model_version: int | None
    utc_time_created: str

    @property
    def model_id(self) -> str:
        """MLflow 3's logged-model id; in cairn the model is its run's artifact."""
        return self.model_uri


def log_model(
    model: object,
    artifact_path: str | None = None,
    *,
    name: str | None = None,
    flavor: str | None = None,
    registered_model_name: str | None = None,
    signature: object = None,
    input_example: object = None,
    tags: dict | None = None,
    **options: object,
) -> ModelInfo:
    """Log `model` as an artifact of the active run (started if none is); see the module."""
    unknown = sorted(set(options) - ENVIRONMENT_OPTIONS)
    if unknown:
        raise InvalidValueError(f"log_model got unexpected arguments: {', '.join(unknown)}")
    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidValueError("give the model's name= or artifact_path=, not both")
    path = clean_path(name or artifact_path or DEFAULT_PATH)
    impl = flavor_named(flavor) if flavor is not None else detect(model)
    run = run_to_log(None)
    store = run.store
    found = _signature(impl, model, signature, input_example)
    payload = flavor_payload(impl, model, input_example)
    meta = {
        PATH_KEY: path,
        FLAVOR_KEY: impl.name,
        SIGNATURE_KEY: None if found is None else found.to_json(),
    }
    digest = store.put_value(payload, codec="bytes")
    artifact_name = check_name(path.rsplit("/", 1)[-1], "model path")
    artifact = save_artifact(store, run.id, artifact_name, None, MODEL_KIND, meta, digest)
    version = None
    if registered_model_name is not None:
        version = _register(registered_model_name, model, artifact, impl, input_example, tags)
    return ModelInfo(
        name=path,
        artifact_path=path,
        model_uri=f"{RUNS}{run.id}/{path}",
        run_id=run.id,
        flavors={impl.name: {}},
        signature=found,
        registered_model_version=None if version is None else version.version,
        utc_time_created=datetime.datetime.fromtimestamp(
            artifact.created, datetime.timezone.utc
        ).isoformat(),
    )


def load_model(model_uri: str) -> LoadedModel:
    """The model `model_uri` names, ready to predict (`.native` is the library's object);
    recorded as an input of the active run, if there is one."""
    if is_models_uri(model_uri):
        return load_version(model_reference(model_uri))
    model, artifact = _logged(model_uri)
    run = active.current()
    if run is not None:
        record_input(get_store(), run.id, artifact)
    return model


def register_model(model_uri: str, name: str, tags: dict | None = None) -> ModelVersion:
    """Register the model at `model_uri` (`runs:/...` or `models:/...`) as the next version
    of `name`."""
    if is_models_uri(model_uri):
        loaded = load_version(model_reference(model_uri))
        return register(
            name, loaded.native, owner=_owner(name), tags=tags, flavor=loaded.flavor.name
        )
    loaded, artifact = _logged(model_uri)
    return _register(name, loaded.native, artifact, loaded.flavor, None, tags)


def infer_signature(
    model_input: object, model_output: object = None, params: object = None
) -> Signature:
    """MLflow's `infer_signature`, giving cairn's `Signature` (which `log_model` takes)."""
    if params is not None:
        raise InvalidValueError("cairn's signatures have no inference params")
    return infer_cairn_signature(model_input, model_output)


def _logged(model_uri: str) -> tuple[LoadedModel, ArtifactRef]:
    if not is_runs_uri(model_uri):
        raise InvalidValueError(
            f"{model_uri!r}: cairn.mlflow loads runs:/RUN_ID/PATH, models:/NAME/VERSION or "
            "models:/NAME@ALIAS"
        )
    where = run_path(model_uri)
    store = get_store()
    stored = file_at(store, query.get_run(where.run_id, store=store).id, where.path)
    artifact = stored.ref
    if artifact.kind != MODEL_KIND or FLAVOR_KEY not in artifact.meta:
        raise InvalidValueError(f"{model_uri!r} is a file the run logged, not a model")
    signature_json = artifact.meta.get(SIGNATURE_KEY)
    signature = None if signature_json is None else Signature.from_json(signature_json)
    payload = read_bytes(store, stored)
    return from_payload(artifact.meta[FLAVOR_KEY], payload, signature), artifact


def _signature(impl: Flavor, model: object, given: object, example: object) -> Signature | None:
    try:
        return logged_signature(given, example, lambda x: impl.predict(model, conform(None, x)))
    except CairnError:
        raise
    except Exception as exc:  # as MLflow: a model that cannot predict its example still logs
        log.warning("could not infer the model's signature from its input example: %s", exc)
        return None


def _register(
    name: str,
    model: object,
    artifact: ArtifactRef,
    impl: Flavor,
    example: object,
    tags: dict | None,
) -> ModelVersion:
    return register(
        name, model, artifact.run_id, owner=_owner(name), example=example, tags=tags,
        flavor=impl.name,
    )  # fmt: skip


def _owner(name: str) -> str | None:
    """MLflow has no owners: a new model is the current user's, an existing one keeps its."""
    try:
        get_model(name)
    except NotFoundError:
        return current_user()
    return None
