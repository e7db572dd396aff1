"""Release gates: each built-in kind refuses and allows as configured, on data it really
evaluates; specs round-trip; a gate that breaks is a failed result, never an exception; and
moving an alias runs the stored gates, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.pipeline import make_pipeline

import cairn
from cairn import models
from cairn.errors import GateRefusedError, InvalidValueError
from cairn.models import gates
from cairn.models.gates import Candidate, GateResult, gate_from_spec, run_gates
from cairn.models.versions import ModelVersion
from cairn.store import get_store, reset_store
from tests.conftest import run_python

RNG = np.random.default_rng(0)
FEATURES = pd.DataFrame({"a": RNG.normal(size=120), "b": RNG.normal(size=120)})
LABELS = (FEATURES.a + FEATURES.b > 0).astype(np.int64)
GOOD = LogisticRegression().fit(FEATURES, LABELS)
BAD = LogisticRegression().fit(FEATURES, 1 - LABELS)  # learned the opposite: accuracy ~0


def register_pair(name: str = "clf") -> tuple[ModelVersion, ModelVersion]:
    good = models.register(name, GOOD, owner="alice", example=FEATURES[:5])
    bad = models.register(name, BAD, example=FEATURES[:5])
    return good, bad


def register_regressors(label: str) -> tuple[ModelVersion, ModelVersion]:
    """Dataset "prices" and two versions of "reg": exact, and off by 5 everywhere."""
    target = FEATURES.a * 3 + 1
    cairn.datasets.save("prices", FEATURES.assign(**{label: target}))
    exact = LinearRegression().fit(FEATURES, target)
    off = LinearRegression().fit(FEATURES, target + 5)
    return (
        models.register("reg", exact, owner="alice", example=FEATURES[:3]),
        models.register("reg", off, example=FEATURES[:3]),
    )


def candidate(version: ModelVersion, current: ModelVersion | None = None) -> Candidate:
    return Candidate(get_store(), version.name, "production", version, current)


def check(gate: gates.Gate, version: ModelVersion, current: ModelVersion | None = None):
    (result,) = run_gates([gate], candidate(version, current))
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cairn.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("CAIRN_STORE", url)
    monkeypatch.setenv("CAIRN_BLOBS", str(tmp_path / "blobs"))
    monkeypatch.chdir(tmp_path)
    reset_store()
    yield request.param
    reset_store()


# --- metric -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["frame", "dict"])
def test_metric_gate_refuses_a_bad_model_and_allows_a_good_one(workspace: Path, shape: str):
    if shape == "frame":
        cairn.datasets.save("holdout", FEATURES.assign(label=LABELS))
    else:
        cairn.datasets.save("holdout", {"X": FEATURES.to_numpy(), "y": LABELS.to_numpy()})
    good, bad = register_pair()
    gate = gates.metric("holdout", "accuracy", min=0.9)

    allowed, refused = check(gate, good), check(gate, bad)

    assert allowed.passed and not refused.passed
    assert allowed.value == accuracy_score(LABELS, GOOD.predict(FEATURES))
    assert refused.value == accuracy_score(LABELS, BAD.predict(FEATURES)) < 0.1
    assert refused.reason == f"accuracy {refused.value:.6g} on holdout:1 is below 0.9"
    assert refused.gate == "accuracy on holdout >= 0.9" and refused.kind == "metric"
    assert refused.detail == {"dataset": "holdout", "dataset_version": 1}
    assert json.loads(json.dumps(refused.to_json()))["value"] == refused.value


def test_metric_gate_takes_max_for_an_error_metric(workspace: Path) -> None:
    exact, off = register_regressors(label="price")
    gate = gates.metric("prices", "mean_squared_error", max=1.0, labels="price")

    assert check(gate, exact).passed
    refused = check(gate, off)
    assert not refused.passed and refused.value == pytest.approx(25.0)
    assert refused.reason.startswith("mean_squared_error 25 on prices:1 is above 1")


def test_metric_gate_uses_the_named_columns_and_a_pinned_version(workspace: Path) -> None:
    frame = FEATURES.assign(row_id=np.arange(len(FEATURES)), target=LABELS)
    cairn.datasets.save("holdout", frame)  # version 1: the right labels
    cairn.datasets.save("holdout", frame.assign(target=1 - LABELS))  # version 2: flipped
    good, _ = register_pair()
    pinned = gates.metric("holdout", "accuracy", min=0.9, version=1, labels="target",
                          features=["a", "b"])  # fmt: skip
    latest = gates.metric("holdout", "accuracy", min=0.9, labels="target", features=["a", "b"])

    assert check(pinned, good).passed and check(pinned, good).detail["dataset_version"] == 1
    result = check(latest, good)
    assert not result.passed and result.detail["dataset_version"] == 2


def test_metric_gate_passes_metric_options(workspace: Path) -> None:
    cairn.datasets.save("holdout", FEATURES.assign(label=LABELS))
    good, _ = register_pair()
    gate = gates.metric("holdout", "f1", min=0.9, options={"average": "macro"})

    result = check(gate, good)

    assert result.passed and gate.describe() == "f1(average='macro') on holdout >= 0.9"


def test_data_that_is_not_where_the_gate_says_fails_with_what_is_there(workspace: Path) -> None:
    cairn.datasets.save("frame", FEATURES.assign(label=LABELS))
    cairn.datasets.save("pairs", {"features": FEATURES.to_numpy(), "y": LABELS.to_numpy()})
    cairn.datasets.save("array", FEATURES.to_numpy())
    good, _ = register_pair()

    no_column = check(gates.metric("frame", "accuracy", min=0.5, labels="target"), good)
    no_key = check(gates.metric("pairs", "accuracy", min=0.5), good)
    not_data = check(gates.metric("array", "accuracy", min=0.5), good)
    no_dataset = check(gates.metric("nothing", "accuracy", min=0.5), good)

    assert (
        not no_column.passed and "no column 'target'; its columns: a, b, label" in no_column.reason
    )
    assert not no_key.passed and "no key 'X'; its keys: features, y" in no_key.reason
    assert not not_data.passed and "holds a ndarray" in not_data.reason
    assert not no_dataset.passed and "no dataset 'nothing'" in no_dataset.reason


def test_a_metric_gate_checks_its_arguments_when_built() -> None:
    with pytest.raises(InvalidValueError, match=r"did you mean accuracy"):
        gates.metric("holdout", "acuracy", min=0.9)
    with pytest.raises(InvalidValueError, match="exactly one threshold"):
        gates.metric("holdout", "accuracy")
    with pytest.raises(InvalidValueError, match="exactly one threshold"):
        gates.metric("holdout", "accuracy", min=0.1, max=0.9)
    with pytest.raises(InvalidValueError, match="dataset version number"):
        gates.metric("holdout", "accuracy", min=0.9, version=0)
    with pytest.raises(InvalidValueError, match="a number"):
        gates.metric("holdout", "accuracy", min="0.9")
    with pytest.raises(InvalidValueError, match="features must be"):
        gates.metric("holdout", "accuracy", min=0.9, features={"a": 1})
    with pytest.raises(InvalidValueError, match="not a scikit-learn metric"):
        gates.metric("holdout", "confusion_matrix", min=0.9)  # a matrix, not one number


# --- not_worse --------------------------------------------------------------------------------


def test_not_worse_compares_with_what_the_alias_points_to_now(workspace: Path) -> None:
    cairn.datasets.save("holdout", FEATURES.assign(label=LABELS))
    good, bad = register_pair()
    same = models.register("clf", make_pipeline(GOOD), example=FEATURES[:5])  # other bytes
    gate = gates.not_worse("holdout", "accuracy")

    worse = check(gate, bad, current=good)
    equal = check(gate, same, current=good)
    better = check(gate, good, current=bad)
    first = check(gate, bad, current=None)

    assert not worse.passed and worse.value < worse.detail["current"]
    assert worse.reason.startswith(f"accuracy {worse.value:.6g} of clf/2 on holdout:1 is worse")
    assert worse.reason.endswith("of clf/1 (now production)")
    assert equal.passed and equal.value == equal.detail["current"]
    assert better.passed and better.value > better.detail["current"]
    assert first.passed and "nothing has alias production yet" in first.reason
    assert check(gates.not_worse("holdout", "accuracy", tolerance=1.0), bad, good).passed


def test_not_worse_knows_lower_is_better_for_errors(workspace: Path) -> None:
    exact, off = register_regressors(label="label")
    gate = gates.not_worse("prices", "mean_squared_error")

    assert check(gate, exact, current=off).passed
    refused = check(gate, off, current=exact)
    assert not refused.passed and refused.detail["greater_is_better"] is False
    flipped = gates.not_worse("prices", "mean_squared_error", greater_is_better=True)
    assert check(flipped, off, current=exact).passed


# --- signature_unchanged ----------------------------------------------------------------------


def test_signature_unchanged_refuses_a_new_column(workspace: Path) -> None:
    good, same = register_pair()
    wider = FEATURES.assign(c=1.0)
    changed = models.register("clf", LogisticRegression().fit(wider, LABELS), example=wider[:5])
    gate = gates.signature_unchanged()

    refused = check(gate, changed, current=good)

    assert not refused.passed
    assert refused.reason == "clf/3 changes the signature of clf/1: inputs: added c (float64)"
    assert refused.detail["before"] == good.signature
    assert check(gate, same, current=good).passed
    assert check(gate, changed, current=None).passed


def test_signature_unchanged_names_retyped_columns_arrays_and_missing_signatures(
    workspace: Path,
) -> None:
    good, _ = register_pair()
    whole = FEATURES.assign(b=(FEATURES.b * 10).round().astype(np.int64))
    retyped = models.register("clf", LogisticRegression().fit(whole, LABELS), example=whole[:5])
    array = FEATURES.to_numpy()
    tensor = models.register("clf", LogisticRegression().fit(array, LABELS), example=array[:5])
    bare = models.register("clf", LogisticRegression(C=2.0).fit(FEATURES, LABELS))
    gate = gates.signature_unchanged()

    results = [check(gate, v, current=good) for v in (retyped, tensor, bare)]

    assert [r.passed for r in results] == [False, False, False]
    assert results[0].reason.endswith("inputs: retyped b float64 -> int64")
    assert "inputs frame[a: float64, b: float64] -> tensor[float64" in results[1].reason
    assert results[2].reason.endswith("it has none (a version gets its signature from "
                                      "register(..., example=))")  # fmt: skip


# --- loads_in_fresh_process -------------------------------------------------------------------


def test_a_real_model_loads_and_predicts_in_a_fresh_process(database: str) -> None:
    # The child opens the store from the URL it is given: PostgreSQL's with its password.
    good, _ = register_pair()

    result = check(gates.loads_in_fresh_process(), good)

    assert result.passed, result.reason
    assert result.detail["returncode"] == 0 and result.detail["output_shape"] == [5]
    assert result.value > result.detail["load_seconds"] > 0


def test_a_store_named_by_a_relative_sqlite_path_is_found_by_the_fresh_process(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child runs in an empty directory, where "cairn.db" would be a new, empty store.
    monkeypatch.setenv("CAIRN_STORE", "sqlite:///cairn.db")
    reset_store()
    good, _ = register_pair()

    result = check(gates.loads_in_fresh_process(), good)

    assert result.passed, result.reason
    assert (workspace / "cairn.db").exists()


def test_a_model_only_its_training_process_can_import_fails_in_a_fresh_one(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model's class lives in a module of the training script's folder: this process
    # imports it, a server started elsewhere cannot.
    folder = tmp_path / "trainer"
    folder.mkdir()
    (folder / "trainer_only_models.py").write_text(
        textwrap.dedent(
            """
            class Sign:
                def predict(self, inputs):
                    return (inputs[:, 0] > 0).astype(int)
            """
        )
    )
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("trainer_only_models")
    example = FEATURES.to_numpy()[:5]
    version = models.register("local", module.Sign(), owner="alice", example=example)

    result = check(gates.loads_in_fresh_process(), version)

    assert not result.passed
    assert result.reason.startswith("local/1 failed in a fresh process (exit 1): ")
    assert "No module named 'trainer_only_models'" in result.reason
    assert "Traceback" in result.detail["stderr"]


def test_a_version_without_example_or_too_slow_fails_the_fresh_process_check(
    workspace: Path,
) -> None:
    bare = models.register("bare", GOOD, owner="alice")

    no_example = check(gates.loads_in_fresh_process(), bare)
    too_slow = check(gates.loads_in_fresh_process(timeout=0.05), bare)

    assert not no_example.passed and "has no example to predict on" in no_example.reason
    assert not too_slow.passed and too_slow.detail["returncode"] is None
    assert too_slow.reason == "bare/1 did not load and predict in a fresh process within 0.05 s"


# --- owner_active -----------------------------------------------------------------------------


def test_owner_active_reads_the_owners_events_and_runs(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_USER", "alice")
    good, _ = register_pair()  # alice's register events
    monkeypatch.setenv("CAIRN_USER", "registrar")
    absent = models.register("absent", GOOD, owner="bob")
    runner = models.register("runner", GOOD, owner="carol")

    assert check(gates.owner_active(1), good).passed
    stale = check(gates.owner_active(0), good)
    assert not stale.passed and stale.reason.startswith("owner alice last acted 0.0 days ago")
    never = check(gates.owner_active(30), absent)
    assert not never.passed and "owner bob has never acted" in never.reason
    assert not check(gates.owner_active(30), runner).passed
    # A run records who started it as the audit log does: config.current_user (CAIRN_USER),
    # read once per process, so carol's run is started by a process of hers.
    run_python("import cairn\nwith cairn.start_run('train'): pass", env={"CAIRN_USER": "carol"})
    assert check(gates.owner_active(30), runner).passed
    with pytest.raises(InvalidValueError, match="days"):
        gates.owner_active(-1)


# --- custom -----------------------------------------------------------------------------------


def test_custom_gates_call_an_importable_function(workspace: Path) -> None:
    good, _ = register_pair()
    path = "tests.models.gate_functions"

    refused = check(gates.custom(f"{path}:refuse", why="not on Fridays"), good)
    allowed = check(gates.custom(f"{path}:flavor_is", flavor="sklearn"), good)
    other = check(gates.custom(f"{path}:flavor_is", flavor="torch"), good)
    full = check(gates.custom(f"{path}:described"), good)

    assert not refused.passed and refused.reason == "not on Fridays"
    assert refused.gate == f"custom {path}:refuse(why='not on Fridays')"
    assert allowed.passed and not other.passed
    assert other.reason == f"{path}:flavor_is returned False"
    assert full.passed and full.value == 1.5 and full.gate == f"custom {path}:described()"


def test_a_custom_gate_that_cannot_run_is_a_failed_result(workspace: Path) -> None:
    good, _ = register_pair()
    path = "tests.models.gate_functions"

    missing_module, missing_function, raising, odd = run_gates(
        [
            gates.custom("tests.models.no_such_module:gate"),
            gates.custom(f"{path}:no_such_function"),
            gates.custom(f"{path}:broken"),
            gates.custom(f"{path}:not_a_verdict"),
        ],
        candidate(good),
    )

    assert not missing_module.passed
    assert missing_module.reason.startswith("cannot import tests.models.no_such_module:gate")
    assert not missing_function.passed and "no_such_function" in missing_function.reason
    assert not raising.passed and raising.reason == "KeyError: 'missing'"
    assert not odd.passed and "returned 'yes'" in odd.reason
    with pytest.raises(InvalidValueError, match="package.module:function"):
        gates.custom("tests.models.gate_functions.refuse")
    with pytest.raises(InvalidValueError, match="JSON"):
        gates.custom(f"{path}:refuse", why=object())


# --- specs and the registry of kinds ----------------------------------------------------------

EVERY_KIND = [
    gates.metric(
        "holdout",
        "accuracy",
        min=0.9,
        version=2,
        labels="y",
        features=["a", "b"],
        options={"average": "macro"},
    ),  # fmt: skip
    gates.metric("prices", "mean_squared_error", max=2.5),
    gates.not_worse("holdout", "f1", tolerance=0.01, greater_is_better=True, features="X"),
    gates.signature_unchanged(),
    gates.loads_in_fresh_process(timeout=30),
    gates.owner_active(14),
    gates.custom("tests.models.gate_functions:refuse", why="because"),
]


@pytest.mark.parametrize("gate", EVERY_KIND, ids=lambda g: g.kind)
def test_every_kind_round_trips_through_its_stored_spec(gate: gates.Gate) -> None:
    spec = json.loads(json.dumps(gate.to_spec()))

    again = gate_from_spec(spec)

    assert again == gate and again.describe() == gate.describe()
    assert spec["kind"] == gate.kind and again.to_spec() == spec


def test_every_builtin_kind_is_registered() -> None:
    assert {g.kind for g in EVERY_KIND} == set(gates.gate_kinds())


def test_bad_specs_are_refused_naming_the_known_kinds() -> None:
    with pytest.raises(InvalidValueError, match=r"unknown gate kind 'quorum' \(known: custom, "):
        gate_from_spec({"kind": "quorum"})
    with pytest.raises(InvalidValueError, match="with its 'kind'"):
        gate_from_spec({"dataset": "holdout"})
    with pytest.raises(InvalidValueError, match="days missing"):
        gate_from_spec({"kind": "owner_active"})
    with pytest.raises(InvalidValueError, match="not threshold"):
        gate_from_spec({"kind": "metric", "dataset": "h", "metric": "accuracy", "threshold": 1})


def test_a_stored_metric_gate_loads_even_where_its_metric_is_unknown(workspace: Path) -> None:
    # Stored specs always load again; what does not work here fails the check instead.
    gate = gate_from_spec({"kind": "metric", "dataset": "h", "metric": "gone_score", "min": 1})
    good, _ = register_pair()

    result = check(gate, good)

    assert not result.passed and "'gone_score' is not a scikit-learn metric" in result.reason


@dataclass(frozen=True)
class Quorum:
    """A third party's kind."""

    kind: ClassVar[str] = "quorum"
    votes: int

    def to_spec(self) -> dict:
        return {"kind": self.kind, "votes": self.votes}

    @classmethod
    def from_spec(cls, spec: dict) -> Quorum:
        return cls(spec["votes"])

    def describe(self) -> str:
        return f"{self.votes} votes"

    def check(self, candidate: Candidate) -> GateResult:
        return GateResult(self.describe(), self.kind, self.votes >= 2, f"{self.votes} votes")


def test_third_parties_register_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gates, "_kinds", dict(gates._kinds))
    gates.register_gate_kind(Quorum)

    assert gate_from_spec({"kind": "quorum", "votes": 3}) == Quorum(3)
    with pytest.raises(InvalidValueError, match="from_spec"):
        gates.register_gate_kind(type("NoSpec", (), {"kind": "nospec"}))


class Exploding:
    kind = "exploding"

    def describe(self) -> str:
        return "explodes"

    def check(self, candidate: Candidate) -> GateResult:
        raise ZeroDivisionError("division by zero")


def test_run_gates_runs_every_gate_and_never_raises(workspace: Path) -> None:
    good, _ = register_pair()

    results = run_gates(
        [Exploding(), gates.signature_unchanged(), Quorum(1), Quorum(2)], candidate(good)
    )

    assert [r.passed for r in results] == [False, True, False, True]
    assert results[0].reason == "ZeroDivisionError: division by zero"
    assert results[0].gate == "explodes" and results[0].detail == {"error": "ZeroDivisionError"}


# --- through the registry: stored gates run on every alias move -------------------------------


def test_moving_an_alias_runs_its_stored_gates(database: str) -> None:
    cairn.datasets.save("holdout", FEATURES.assign(label=LABELS))
    good, bad = register_pair()
    models.add_gate("clf", "production", gates.metric("holdout", "accuracy", min=0.9))
    models.add_gate("clf", "production", gates.not_worse("holdout", "accuracy"))
    models.add_gate("clf", "production", gates.signature_unchanged())

    first = models.set_alias("clf", "production", good.version)
    with pytest.raises(GateRefusedError) as refused:
        models.set_alias("clf", "production", bad.version)
    forced = models.set_alias("clf", "production", bad.version, force=True, reason="rollback drill")

    assert [r.passed for r in first.results] == [True, True, True]
    assert first.results[0].value == accuracy_score(LABELS, GOOD.predict(FEATURES))
    assert len(refused.value.reasons) == 2
    assert refused.value.reasons[0].startswith("accuracy on holdout >= 0.9: accuracy ")
    assert "is worse than" in refused.value.reasons[1]
    assert models.get_version("clf@production").version == bad.version
    assert forced.overridden == (
        "accuracy on holdout >= 0.9",
        "accuracy on holdout not worse than the current version",
    )
    assert mean_squared_error(LABELS, BAD.predict(FEATURES)) > 0.9  # the refusal was right
