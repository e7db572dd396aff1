"""How the environment a re-run would get differs from the one a run recorded."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from cairn.reproduce.errors import CannotReproduce

# What a fresh interpreter reports: the re-run starts as one, while this process's own
# sys.path may have grown since it started (a test runner, a notebook, a plugin).
_REPORT = (
    "import json, sys; from cairn.tracking.capture import capture_environment; "
    "json.dump(capture_environment(), sys.stdout)"
)


@dataclass
class PackageChange:
    name: str
    recorded: str | None  # None: not installed when the run ran
    current: str | None  # None: not installed now


def environment_of(python: str) -> dict:
    """The environment (packages, Python, machine) a fresh `python` process sees."""
    done = subprocess.run(
        [python, "-c", _REPORT], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise CannotReproduce(f"{python} could not report its environment:\n{done.stderr}")
    return json.loads(done.stdout)


def package_changes(recorded_env: dict, current_env: dict) -> list[PackageChange]:
    recorded, current = recorded_env.get("packages", {}), current_env.get("packages", {})
    return [
        PackageChange(name, recorded.get(name), current.get(name))
        for name in sorted(set(recorded) | set(current))
        if recorded.get(name) != current.get(name)
    ]


def python_change(recorded_env: dict, current_env: dict) -> tuple[str, str] | None:
    recorded, current = recorded_env.get("python"), current_env.get("python")
    return None if recorded == current else (recorded, current)
