"""`cairn models export NAME@ALIAS DIR --format mlflow`: a model version written as an MLflow
model directory, which `mlflow models serve -m DIR` serves and `mlflow.pyfunc.load_model`
loads, so a team keeps its MLflow serving while it moves.

The directory is what MLflow's own `save_model` writes for the flavor:

- `MLmodel`: the flavor and `python_function` sections, MLflow's signature (from cairn's:
  frame columns as MLflow column types, tensors as tensor specs), the input example's
  description, and `metadata` naming the cairn version it came from (name, version, digest);
- the flavor's files: for scikit-learn `model.pkl`, MLflow's sklearn flavor with
  serialization format `cloudpickle` (cairn's sklearn payload is that very pickle, written
  as it is stored);
- `input_example.json` and `serving_input_example.json` from the version's example;
- `requirements.txt`, `python_env.yaml` and `conda.yaml`, pinned to the versions installed
  here (as MLflow pins them when it saves).

MLflow is not needed to export. Other flavors are refused with the list of those exported.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from cairn.errors import FlavorError, InvalidValueError
from cairn.models.signature import FrameSchema, Schema, Signature, TensorSchema, conform
from cairn.models.versions import ModelVersion, get_version
from cairn.states import TextEnum
from cairn.store import Store, get_store

MLMODEL = "MLmodel"
EXAMPLE = "input_example.json"
SERVING_EXAMPLE = "serving_input_example.json"
REQUIREMENTS = "requirements.txt"
PYTHON_ENV = "python_env.yaml"
CONDA = "conda.yaml"
# The MLflow that reads these directories when none is installed here to name: the oldest
# whose MLmodel format this writes (the signature's `params`, the serving example).
MLFLOW_FLOOR = "2.10"
# MLflow's column types for cairn's dtypes; anything else has no MLflow column type.
_COLUMN_TYPES = {
    "float64": "double",
    "float32": "float",
    "float16": "float",
    "int64": "long",
    "uint32": "long",
    "int32": "integer",
    "int16": "integer",
    "int8": "integer",
    "uint16": "integer",
    "uint8": "integer",
    "bool": "boolean",
    "str": "string",
    "category": "string",
    "datetime64[ns]": "datetime",
}


class ExportFormat(TextEnum):
    MLFLOW = "mlflow"


@dataclass(frozen=True)
class FlavorFiles:
    """What one flavor writes: its files, its MLmodel sections, the packages it runs on."""

    files: dict[str, bytes]
    flavors: dict[str, dict]
    packages: tuple[str, ...]  # distribution names, pinned to what is installed


def export_model(
    ref: str,
    dest: str | os.PathLike,
    *,
    format: ExportFormat | str = ExportFormat.MLFLOW,
    store: Store | None = None,
) -> Path:
    """Write the model version `ref` (`digits@production`, `digits/3`) to the new folder
    `dest` (it may exist if empty) as an MLflow model; returns `dest`. The folder appears
    whole or not at all."""
    if str(format) not in {f.value for f in ExportFormat}:
        known = ", ".join(f.value for f in ExportFormat)
        raise InvalidValueError(f"no export format {format!r} (known: {known})")
    store = store or get_store()
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidValueError(f"{dest} exists and is not an empty folder; choose a new one")
    version = get_version(ref, store=store)
    writer = _WRITERS.get(version.flavor)
    if writer is None:
        raise FlavorError(
            f"{version} is a {version.flavor} model; the MLflow export writes "
            f"{', '.join(sorted(_WRITERS))} models"
        )
    payload = bytes(store.get_value(version.digest))
    signature = Signature.from_json(version.signature) if version.signature else None
    flavor = writer(payload)
    example = store.get_value(version.example) if version.example else None
    contents = dict(flavor.files)
    mlmodel = _mlmodel(version, flavor, signature)
    if example is not None and signature is not None:
        saved, serving, info = _example_files(signature, example)
        contents[EXAMPLE], contents[SERVING_EXAMPLE] = saved, serving
        mlmodel["saved_input_example_info"] = info
    requirements = _requirements(flavor.packages, signature)
    contents[REQUIREMENTS] = ("\n".join(requirements) + "\n").encode()
    contents[PYTHON_ENV] = _yaml(_python_env())
    contents[CONDA] = _yaml(_conda(requirements))
    mlmodel["model_size_bytes"] = sum(len(data) for data in contents.values())
    contents[MLMODEL] = _yaml(mlmodel)
    _write_folder(dest, contents)
    return dest


def _sklearn(payload: bytes) -> FlavorFiles:
    pickled = "model.pkl"
    flavors = {
        "python_function": {
            "loader_module": "mlflow.sklearn",
            "model_path": pickled,
            "predict_fn": "predict",
            "python_version": platform.python_version(),
            "env": {"conda": CONDA, "virtualenv": PYTHON_ENV},
        },
        "sklearn": {
            "pickled_model": pickled,
            "sklearn_version": _installed("scikit-learn"),
            "serialization_format": "cloudpickle",
            "code": None,
        },
    }
    return FlavorFiles(
        {pickled: payload}, flavors, ("cloudpickle", "numpy", "scikit-learn", "scipy")
    )


_WRITERS: dict[str, Callable[[bytes], FlavorFiles]] = {"sklearn": _sklearn}


def _mlmodel(version: ModelVersion, flavor: FlavorFiles, signature: Signature | None) -> dict:
    mlmodel: dict = {
        "flavors": flavor.flavors,
        "mlflow_version": _installed("mlflow") or MLFLOW_FLOOR,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "metadata": {
            "cairn_model": version.name,
            "cairn_version": version.version,
            "cairn_digest": version.digest,
        },
    }
    if signature is not None:
        inputs = _mlflow_schema(signature.inputs)
        outputs = _mlflow_schema(signature.outputs) if signature.outputs is not None else None
        if inputs is not None:
            mlmodel["signature"] = {
                "inputs": json.dumps(inputs),
                "outputs": json.dumps(outputs) if outputs is not None else None,
                "params": None,
            }
    return mlmodel


def _mlflow_schema(schema: Schema) -> list[dict] | None:
    """MLflow's JSON of a schema; None where MLflow has no type for a column or tensor
    (`object`, text tensors): MLflow would check the inputs against a type they need not
    have, so no signature is written."""
    if isinstance(schema, TensorSchema):
        if schema.dtype in ("str", "object", "category"):
            return None
        spec = {"dtype": schema.dtype, "shape": list(schema.shape)}
        return [{"type": "tensor", "tensor-spec": spec}]
    assert isinstance(schema, FrameSchema)
    columns = []
    for column in schema.columns:
        kind = _COLUMN_TYPES.get(column.dtype)
        if kind is None:
            return None
        columns.append({"type": kind, "name": column.name, "required": True})
    return columns


def _example_files(signature: Signature, example: object) -> tuple[bytes, bytes, dict]:
    """MLflow's two example files and their MLmodel description. The example is conformed
    to the signature first: a frame (pandas' split orientation, `{"dataframe_split": ...}`
    to serve) or an array (a list of rows, `{"inputs": ...}`)."""
    conformed = conform(signature, example)
    if isinstance(signature.inputs, FrameSchema):
        split = json.loads(conformed.to_json(orient="split", index=False, date_format="iso"))
        split.pop("index", None)
        info = {"artifact_path": EXAMPLE, "type": "dataframe", "pandas_orient": "split",
                "serving_input_path": SERVING_EXAMPLE}  # fmt: skip
        return _json(split), _json({"dataframe_split": split}), info
    rows = conformed.tolist()
    info = {"artifact_path": EXAMPLE, "type": "ndarray", "format": "tf-serving",
            "serving_input_path": SERVING_EXAMPLE}  # fmt: skip
    return _json(rows), _json({"inputs": rows}), info


def _requirements(packages: tuple[str, ...], signature: Signature | None) -> list[str]:
    wanted = ["mlflow", *packages]
    if signature is not None and isinstance(signature.inputs, FrameSchema):
        wanted.append("pandas")
    lines = []
    for name in dict.fromkeys(wanted):
        installed = _installed(name)
        if installed is not None:
            lines.append(f"{name}=={_public(installed)}")
        elif name == "mlflow":
            lines.append(f"mlflow>={MLFLOW_FLOOR}")
        else:
            lines.append(name)
    return lines


def _python_env() -> dict:
    build = [
        f"{name}=={_public(found)}" if (found := _installed(name)) else name
        for name in ("pip", "setuptools", "wheel")
    ]
    return {
        "python": platform.python_version(),
        "build_dependencies": build,
        "dependencies": [f"-r {REQUIREMENTS}"],
    }


def _conda(requirements: list[str]) -> dict:
    pip = _installed("pip")
    return {
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={platform.python_version()}",
            f"pip<={_public(pip)}" if pip else "pip",
            {"pip": requirements},
        ],
        "name": "mlflow-env",
    }


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _public(version: str) -> str:
    """A version without its local label (`2.3.0+cpu` -> `2.3.0`): PyPI has no local
    versions, so a pin with one cannot be installed (MLflow drops it the same way)."""
    return version.split("+", 1)[0]


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2).encode()


def _yaml(value: object) -> bytes:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).encode()


def _write_folder(dest: Path, contents: dict[str, bytes]) -> None:
    """Write the files into a temporary folder beside `dest`, then rename it to `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        if dest.exists():
            dest.rmdir()  # empty, checked above: the rename below needs it gone
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
