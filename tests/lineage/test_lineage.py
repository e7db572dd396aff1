"""The lineage graph: up and down, depth, tree, PROV-JSON and DOT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn


def _chain() -> tuple:
    with cairn.start_run("ingest") as ingest:
        raw = ingest.save("raw", [1, 2, 3])
    with cairn.start_run("clean") as clean:
        cairn.load(raw)
        cleaned = clean.save("clean", [1, 2])
    with cairn.start_run("train") as train:
        cairn.load(cleaned)
        model = train.save("model", {"w": 1})
    return ingest, raw, clean, cleaned, train, model


def test_up_down_and_depth(backend: str) -> None:
    ingest, raw, clean, cleaned, train, model = _chain()
    up = cairn.lineage(model)
    assert {n.label for n in up.artifacts()} == {"model:1", "clean:1", "raw:1"}
    assert {n.attrs["name"] for n in up.runs()} == {"train", "clean", "ingest"}
    assert (model.node, f"run:{train.id}", "wasGeneratedBy") in up.edges
    assert (f"run:{train.id}", cleaned.node, "used") in up.edges
    shallow = cairn.lineage(model, depth=2)
    assert {n.label for n in shallow.artifacts()} == {"model:1", "clean:1"}
    down = cairn.lineage(raw, direction="down")
    assert {n.label for n in down.artifacts()} == {"raw:1", "clean:1", "model:1"}
    assert {n.label for n in cairn.lineage(train.id, direction="down").artifacts()} == {"model:1"}


def test_prov_json_and_dot(backend: str) -> None:
    *_, train, model = _chain()
    from cairn.lineage import to_dot, to_prov_json

    doc = to_prov_json(cairn.lineage(model))
    assert doc["prefix"]["cairn"].startswith("https://")
    assert len(doc["entity"]) == 3 and len(doc["activity"]) == 3
    generated = list(doc["wasGeneratedBy"].values())
    assert {
        "prov:entity": f"cairn:artifact/{model.id}",
        "prov:activity": f"cairn:run/{train.id}",
    } in generated
    assert all("prov:activity" in u and "prov:entity" in u for u in doc["used"].values())
    dot = to_dot(cairn.lineage(model))
    assert dot.startswith("digraph lineage {") and dot.count("->") == 5


def test_cli_formats_and_errors(workspace: Path) -> None:
    *_, model = _chain()
    env = {**os.environ, "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cairn", "lineage", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    tree = cli("model:1")
    assert tree.returncode == 0 and "wasGeneratedBy" in tree.stdout and "raw:1" in tree.stdout
    assert "3 artifact(s), 3 run(s)" in tree.stdout
    prov = json.loads(cli("model", "--format", "prov-json").stdout)
    assert len(prov["entity"]) == 3
    assert cli("model", "--format", "dot").stdout.startswith("digraph")
    missing = cli("nothing:9")
    assert missing.returncode == 1 and "no artifact" in missing.stderr
    assert cli("model", "--direction", "sideways").returncode == 2


def test_bad_arguments(backend: str) -> None:
    *_, model = _chain()
    with pytest.raises(cairn.CairnError, match="direction"):
        cairn.lineage(model, direction="left")
    with pytest.raises(cairn.CairnError, match="depth"):
        cairn.lineage(model, depth=-1)
    with pytest.raises(cairn.CairnError):
        cairn.lineage(3.14)


def test_node_ids_given_as_text(backend: str) -> None:
    *_, train, model = _chain()
    assert cairn.lineage(model.node).root == model.node
    assert cairn.lineage(f"run:{train.id.lower()}").root == f"run:{train.id}"
    for text in ("artifact:abc", "artifact:", "run:"):
        with pytest.raises(cairn.NotFoundError, match="artifact"):
            cairn.lineage(text)


def test_bad_arguments_are_value_errors(backend: str) -> None:
    *_, model = _chain()
    with pytest.raises(ValueError, match="direction"):
        cairn.lineage(model, direction="left")
    with pytest.raises(ValueError, match="depth"):
        cairn.lineage(model, depth=-1)


def test_saving_for_a_missing_run_names_it(backend: str) -> None:
    from ulid import ULID

    from cairn.store import get_store
    from cairn.tracking.artifacts import save_artifact

    missing = str(ULID())
    with pytest.raises(cairn.NotFoundError, match=f"run {missing} does not exist"):
        save_artifact(get_store(), missing, "orphan", [1])
    with pytest.raises(cairn.NotFoundError, match="no artifact 'orphan'"):
        cairn.load("orphan")


def test_version_contention_is_a_cairn_error(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.errors import VersionContentionError
    from cairn.store import get_store
    from cairn.tracking import artifacts

    monkeypatch.setattr(artifacts, "MAX_VERSION_RETRIES", 0)  # as if every try lost the race
    with pytest.raises(VersionContentionError, match="other writers took") as caught:
        artifacts.save_artifact(get_store(), None, "contested", [1])
    assert isinstance(caught.value, cairn.CairnError) and isinstance(caught.value, RuntimeError)
