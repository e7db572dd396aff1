"""`cairn tune ls|show` print what the store holds, and say what to do about a wrong name."""

from __future__ import annotations

import json
from pathlib import Path

import cairn
from tests.cli.test_cli import cli
from tests.tuning.objectives import quadratic


def test_ls_and_show_report_the_study(workspace: Path) -> None:
    result = cairn.tune(
        quadratic, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=12,
        executor="thread", scheduler="asha", name="cli-study", seed=0,
    )  # fmt: skip
    listed = json.loads(cli("tune", "ls", "--json").stdout)
    assert len(listed) == 1
    study = listed[0]
    assert (study["name"], study["metric"], study["mode"], study["trials"]) == (
        "cli-study", "score", "max", 12,
    )  # fmt: skip
    assert study["completed"] + study["pruned"] == 12
    assert study["best_value"] == result.best_value
    assert study["best_run"] == result.best_trial.run_id

    shown = json.loads(cli("tune", "show", "cli-study", "--json").stdout)
    assert shown["trials"][0]["number"] == result.best_trial.number  # best first
    assert len(shown["trials"]) == 12

    table = cli("tune", "show", "cli-study")
    assert table.returncode == 0
    assert result.best_trial.run_id[-8:] in table.stdout
    assert "pruned" in table.stdout or study["pruned"] == 0
    assert "cli-study" in cli("tune", "ls").stdout


def test_show_of_an_unknown_study_names_the_known_ones(workspace: Path) -> None:
    cairn.tune(quadratic, {"x": cairn.uniform(0, 1)}, "score", "max", n_trials=1,
               executor="thread", name="known")  # fmt: skip
    out = cli("tune", "show", "nope")
    assert out.returncode == 1
    assert "no study named 'nope'" in out.stderr and "known" in out.stderr
