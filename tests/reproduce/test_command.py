"""One rebuilt command line for `reproduce` and `export`: script, module, code, arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.reproduce import CannotReproduce
from cairn.reproduce.command import command_line


def test_a_script_runs_under_the_interpreter_with_its_arguments() -> None:
    assert command_line(["./train.py", "--lr", "0.1"], "python") == [
        "python",
        "./train.py",
        "--lr",
        "0.1",
    ]


def test_a_module_is_run_with_dash_m() -> None:
    assert command_line(["-m", "pkg.train", "--epochs", "3"], "/venv/bin/python") == [
        "/venv/bin/python",
        "-m",
        "pkg.train",
        "--epochs",
        "3",
    ]


def test_a_console_script_runs_under_the_interpreter_too() -> None:
    # pytest's entry point is a Python file: the recorded interpreter runs it, not its shebang.
    assert command_line(["/venv/bin/pytest", "-x"], "python") == [
        "python",
        "/venv/bin/pytest",
        "-x",
    ]


def test_arguments_with_spaces_and_quotes_stay_whole(tmp_path: Path) -> None:
    script = tmp_path / "echo args.py"
    script.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    args = ["two words", 'it\'s "quoted"', "", "$HOME"]
    command = command_line([str(script), *args], sys.executable)
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == json.dumps(args)


def test_code_given_with_dash_c_is_run_again() -> None:
    assert command_line(["-c", "print(1)"], "python") == ["python", "-c", "print(1)"]


@pytest.mark.parametrize(
    "argv",
    [[], [""], ["-m"], ["-c"], ["-m", "ipykernel_launcher", "-f", "/run/kernel.json"]],
)
def test_what_cannot_be_run_again_is_a_clear_error(argv: list[str]) -> None:
    with pytest.raises(CannotReproduce) as caught:
        command_line(argv, "python")
    assert "re-run" in str(caught.value) or "names no module" in str(caught.value)
