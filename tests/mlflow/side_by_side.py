"""Running one script with real MLflow and with cairn.mlflow, each in its own interpreter,
and reading back what each printed (JSON, on its last line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_both(script: Path, folder: Path, mlflow_uri: str, cairn_uri: str) -> tuple[dict, dict]:
    """(MLflow's answer, cairn's answer) of `script`, run from `folder` (outside any git
    checkout, so that neither side records git tags) as `script IMPORT TRACKING_URI`."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / script.name
    copy.write_text(script.read_text())
    return _answer(copy, "mlflow", mlflow_uri), _answer(copy, "cairn.mlflow", cairn_uri)


def _answer(script: Path, module: str, uri: str) -> dict:
    done = subprocess.run(
        [sys.executable, script.name, module, uri],
        cwd=script.parent,
        env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"},  # MLflow 3 asks first
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
