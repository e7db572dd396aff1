"""Every table fits an 80- or 100-column terminal: no line is wider, no value is broken
across lines, and what had to be hidden is named in a footer that says how to see it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.cells import cell_len

import cairn
from cairn.cli.output import number, pairs, status
from cairn.states import RunStatus, TrialState
from tests.cli.test_cli import cli

WIDTHS = (80, 100)
EXPERIMENT = "digits"
STUDY = "digits-sgd-search"
DATASET = "digits-handwritten-8x8-scans"
DESCRIPTION = "with the second batch of scans, relabelled"
METRICS = ("train_acc", "val_acc", "val_loss", "fit_seconds")
RUNS = [  # (name, params), as a day of trying models on the digits would leave them
    ("sgd", {"alpha": 1.25e-05, "eta0": 0.01, "learning_rate": "constant"}),
    ("sgd", {"alpha": 0.0001, "eta0": 0.003, "learning_rate": "adaptive"}),
    ("sgd", {"alpha": 0.0075, "eta0": 0.1, "learning_rate": "invscaling"}),
    ("logreg", {"C": 0.01, "max_iter": 500}),
    ("logreg", {"C": 0.1, "max_iter": 300}),
    ("svc", {"C": 1.0, "gamma": 0.001, "kernel": "rbf"}),
    ("svc", {"C": 10.0, "gamma": 0.01, "kernel": "poly"}),
    ("hist-gradient-boosting-classifier", {"l2_regularization": 0.0001, "max_leaf_nodes": 31}),
]
RUNS_LS_DEFAULT = {"id", "name", "status", "started", "took", "params"} | {
    f"metrics.{k}" for k in METRICS
}


@dataclass
class Lab:
    run_ids: list[str]
    trial_params: list[dict]


def _objective(trial) -> float:
    score = 1 - abs(trial.params["alpha"] * 100 - trial.params["eta0"])
    for step in range(4):
        trial.report(score * (step + 1) / 4, step)
    return score


@cairn.step
def features_for_the_digits_classifier_with_a_long_name(x: int) -> int:
    return x * 2


@pytest.fixture
def lab(workspace: Path) -> Lab:
    ids = []
    for i, (name, params) in enumerate(RUNS):
        with cairn.start_run(name, experiment=EXPERIMENT, params=params) as run:
            for epoch in range(3):
                run.log({"train_acc": 0.8 + i / 100 + epoch / 50, "val_loss": 0.5 - i / 37}, epoch)
            run.log({"val_acc": 0.9 + i / 113, "fit_seconds": 0.013 * (i + 1)})
            run.save("model", {"weights": [i] * 3})
        ids.append(run.id)
    space = {"alpha": cairn.loguniform(1e-6, 1e-1), "eta0": cairn.loguniform(1e-4, 1.0)}
    result = cairn.tune(
        _objective, space, "val_acc", "max", n_trials=6, executor="thread", name=STUDY, seed=1
    )
    data = workspace / "scans"
    data.mkdir()
    (data / "part-0.csv").write_text("pixel,label\n" * 20)
    cairn.datasets.add(DATASET, data, description="8x8 scans of handwritten digits from UCI")
    (data / "part-1.csv").write_text("pixel,label\n" * 7)
    cairn.datasets.add(DATASET, data, description=DESCRIPTION)
    features_for_the_digits_classifier_with_a_long_name(3)
    return Lab(ids, [r.params for r in result.records])


def _fits(result, width: int) -> list[str]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, f"wider than {width}:\n" + "\n".join(too_wide)
    return lines


def _headers(lines: list[str]) -> list[str]:
    """The headers of the first table (they stay on one line)."""
    header = next(line for line in lines if line.startswith("┃"))
    return [cell.strip() for cell in header.strip("┃").split("┃")]


def _hidden(lines: list[str]) -> list[str]:
    """The columns the footer says are hidden, in its order."""
    found = re.search(r"\d+ columns? hidden \(([^)]*)\)", " ".join(" ".join(lines).split()))
    return found.group(1).split(", ") if found else []


def _whole(token: str, lines: list[str]) -> bool:
    return any(token in line for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_ls_keeps_params_whole_and_names_hidden_columns(lab: Lab, width: int) -> None:
    lines = _fits(cli("runs", "ls", "-e", EXPERIMENT, width=width), width)
    shown = {h if h in RUNS_LS_DEFAULT else f"metrics.{h}" for h in _headers(lines)}
    hidden = _hidden(lines)
    assert shown | set(hidden) == RUNS_LS_DEFAULT and not shown & set(hidden)
    assert {"id", "name", "status", "params", "metrics.val_acc"} <= shown
    assert hidden[:2] == ["started", "took"]  # timings give way first
    for _, params in RUNS:
        for token in pairs(params):
            assert _whole(token, lines), f"{token} is not whole on one line"
    for run_id in lab.run_ids:
        assert _whole(run_id[-8:], lines)
    footer = " ".join(" ".join(lines).split())
    assert f"--columns=id,{hidden[-1]}" in footer and "--json" in footer


def test_runs_ls_at_80_hides_timings_then_other_metrics_before_params(lab: Lab) -> None:
    lines = _fits(cli("runs", "ls", "-e", EXPERIMENT, width=80), 80)
    assert _hidden(lines) == [
        "started", "took", "metrics.fit_seconds", "metrics.train_acc", "metrics.val_loss",
    ]  # fmt: skip
    assert _headers(lines) == ["id", "name", "status", "params", "val_acc"]
    assert any(re.search(r"│ hist-gradient-\S*… │", line) for line in lines)  # keeps its start
    assert not _whole(RUNS[-1][0], lines)
    assert "… marks values cut short" in " ".join(" ".join(lines).split())
    every_experiment = _fits(cli("runs", "ls", width=80), 80)
    assert {"name", "params", "val_acc"} <= set(_headers(every_experiment))


def test_runs_ls_keeps_the_sort_metric_before_params(lab: Lab) -> None:
    lines = _fits(cli("runs", "ls", "-e", EXPERIMENT, "-s", "metrics.val_loss asc", width=80), 80)
    headers = _headers(lines)
    assert "val_loss" in headers and "params" in headers
    assert "metrics.val_loss" not in _hidden(lines)


def test_runs_ls_100_columns_wide_hides_only_what_does_not_fit(lab: Lab) -> None:
    narrow = _hidden(_fits(cli("runs", "ls", "-e", EXPERIMENT, width=80), 80))
    wide = _hidden(_fits(cli("runs", "ls", "-e", EXPERIMENT, width=100), 100))
    assert len(wide) < len(narrow) and narrow[: len(wide)] == wide
    everything = _fits(cli("runs", "ls", "-e", EXPERIMENT, width=200), 200)
    assert _hidden(everything) == [] and "hidden" not in "\n".join(everything)


def test_columns_option_chooses_and_orders_columns(lab: Lab) -> None:
    lines = _fits(
        cli("runs", "ls", "-e", EXPERIMENT, "--columns", "id,params.alpha,metrics.val_acc"), 200
    )
    assert _headers(lines) == ["id", "alpha", "val_acc"]
    for _, params in RUNS:
        if "alpha" in params:
            assert _whole(f"│ {number(params['alpha'])} ", lines)
    bad = cli("runs", "ls", "--columns", "id,metrics.nope")
    assert bad.returncode == 2 and "no column 'metrics.nope'" in bad.stderr
    assert "metrics.val_acc" in bad.stderr  # says what there is
    empty = cli("runs", "ls", "--columns", " , ")
    assert empty.returncode == 2 and "name at least one column" in empty.stderr
    assert cli("tune", "show", STUDY, "--columns", "run,value").returncode == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_tune_tables_keep_params_whole(lab: Lab, width: int) -> None:
    shown = _fits(cli("tune", "show", STUDY, width=width), width)
    assert {"value", "run", "params"} <= set(_headers(shown))
    for params in lab.trial_params:
        for token in pairs(params):
            assert _whole(token, shown), f"{token} is not whole on one line"
    listed = _fits(cli("tune", "ls", width=width), width)
    headers = _headers(listed)
    assert {"study", "best", "params"} <= set(headers)
    assert set(headers) | set(_hidden(listed)) == {
        "study", "metric", "search", "trials", "best", "params", "created",
    }  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
def test_other_tables_fit(lab: Lab, width: int) -> None:
    shown = _fits(cli("runs", "show", lab.run_ids[0], width=width), width)
    assert all(_whole(f"│ {key}", shown) for key in ("alpha", "learning_rate", *METRICS))
    assert _whole("constant", shown) and _whole(number(1.25e-05), shown)
    diff = _fits(cli("runs", "diff", lab.run_ids[0], lab.run_ids[-1], width=width), width)
    assert _whole("l2_regularization", diff) and _whole("constant", diff)
    datasets = _fits(cli("datasets", "ls", width=width), width)
    assert _whole(DATASET, datasets) and "name" in _headers(datasets)
    history = _fits(cli("datasets", "history", DATASET, width=width), width)
    assert {"version", "content"} <= set(_headers(history))
    assert "description" in _hidden(history) or all(
        _whole(word, history) for word in DESCRIPTION.split()
    )
    steps = _fits(cli("step", "ls", width=width), width)
    assert _whole(features_for_the_digits_classifier_with_a_long_name.name, steps)
    assert set(_headers(steps)) | set(_hidden(steps)) == {"step", "cached", "computed"}


def test_every_state_has_a_colour() -> None:
    for state in [*RunStatus, *TrialState]:
        text = status(state)
        assert text.plain == state.value and text.style
