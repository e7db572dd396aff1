"""`cairn models export NAME@ALIAS DIR --format mlflow`: MLflow loads the directory, and
`mlflow models serve` answers /invocations as cairn's own server does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from cairn import models
from cairn.errors import FlavorError, InvalidValueError
from cairn.mlflow.export import export_model
from cairn.serve.settings import ServeSettings
from tests.serve.serving import X, register_digits, running

mlflow = pytest.importorskip("mlflow")
BIN = Path(sys.executable).parent  # mlflow, and the uvicorn it runs


@pytest.fixture
def digits(workspace: Path) -> models.ModelVersion:
    version = register_digits()
    models.set_alias("digits", "production", version.version)
    return version


def test_the_export_is_an_mlflow_model_of_the_same_predictions(digits, workspace: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "models", "export", "digits@production", "out",
         "--format", "mlflow"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    folder = workspace / "out"
    assert {p.name for p in folder.iterdir()} == {
        "MLmodel", "model.pkl", "requirements.txt", "python_env.yaml", "conda.yaml",
        "input_example.json", "serving_input_example.json",
    }  # fmt: skip
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert mlmodel["metadata"]["cairn_version"] == digits.version
    assert json.loads(mlmodel["signature"]["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 64]}}
    ]
    requirements = (folder / "requirements.txt").read_text().split()
    assert f"mlflow=={mlflow.__version__}" in requirements
    assert any(line.startswith("scikit-learn==") for line in requirements)
    loaded = mlflow.pyfunc.load_model(str(folder))
    ours = models.load("digits@production").predict(X[:50])
    assert (loaded.predict(X[:50]) == ours).all()
    assert loaded.metadata.get_input_schema().inputs[0].shape == (-1, 64)
    example = mlflow.models.Model.load(str(folder)).load_input_example(str(folder))
    assert np.array_equal(example, X[:4])


def test_mlflow_models_serve_answers_as_cairn_serve_does(digits, workspace: Path) -> None:
    export_model("digits@production", workspace / "out")
    body = {"inputs": X[:20].tolist()}
    with running(ServeSettings(("digits@production",))) as url:
        ours = httpx.post(f"{url}/invocations", json=body)
    assert ours.status_code == 200, ours.text
    with mlflow_serving(workspace / "out") as theirs_url:
        theirs = httpx.post(f"{theirs_url}/invocations", json=body, timeout=60)
    assert theirs.status_code == 200, theirs.text
    assert theirs.json() == ours.json() == {"predictions": ours.json()["predictions"]}
    assert len(ours.json()["predictions"]) == 20


class mlflow_serving:  # noqa: N801 - used as a `with` block, like open()
    """`mlflow models serve -m FOLDER --env-manager local` on 127.0.0.1, in a process group of
    its own, ended with the block; ready once Uvicorn says it is running."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", str(self.folder),
             "--env-manager", "local", "-p", str(self.port), "-h", "127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
            start_new_session=True,
        )  # fmt: skip
        ready, said = threading.Event(), []

        def read() -> None:
            for line in self.process.stdout:
                said.append(line)
                if "Uvicorn running on" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not ready.wait(180):
                raise AssertionError("mlflow models serve did not start:\n" + "".join(said))
        except BaseException:
            self.__exit__()
            raise
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        except ProcessLookupError:
            pass


def test_a_frame_model_exports_its_columns(workspace: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.DataFrame({"size": [1.0, 2.5, 3.0, 4.5], "rooms": [1, 2, 3, 4]})
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(frame, [10.0, 20, 31, 39])
    models.register("houses", model, owner="ml", example=frame.iloc[:2])
    export_model("houses@latest", workspace / "houses")
    mlmodel = yaml.safe_load((workspace / "houses" / "MLmodel").read_text())
    assert json.loads(mlmodel["signature"]["inputs"]) == [
        {"type": "double", "name": "size", "required": True},
        {"type": "long", "name": "rooms", "required": True},
    ]
    loaded = mlflow.pyfunc.load_model(str(workspace / "houses"))
    assert np.allclose(loaded.predict(frame), models.load("houses@latest").predict(frame))
    example = mlflow.models.Model.load(str(workspace / "houses")).load_input_example(
        str(workspace / "houses")
    )
    assert example.equals(frame.iloc[:2])
    assert "pandas" in (workspace / "houses" / "requirements.txt").read_text()


def test_what_cannot_be_exported_is_refused(digits, workspace: Path) -> None:
    models.register("double", lambda rows: rows * 2, owner="ml")
    with pytest.raises(FlavorError, match="export writes sklearn"):
        export_model("double@latest", workspace / "d")
    (workspace / "full").mkdir()
    (workspace / "full" / "x").write_text("x")
    with pytest.raises(InvalidValueError, match="not an empty folder"):
        export_model("digits@production", workspace / "full")
    with pytest.raises(InvalidValueError, match="no export format 'onnx'"):
        export_model("digits@production", workspace / "o", format="onnx")
    assert not (workspace / "d").exists() and not (workspace / "o").exists()
    assert [p.name for p in workspace.iterdir() if p.name.startswith(".")] == []
