"""How the environment of now differs from the one a run recorded."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.tracking.capture import capture_environment


@dataclass
class PackageChange:
    name: str
    recorded: str | None  # None: not installed when the run ran
    current: str | None  # None: not installed now


def package_changes(recorded_env: dict) -> list[PackageChange]:
    recorded = recorded_env.get("packages", {})
    current = capture_environment()["packages"]
    return [
        PackageChange(name, recorded.get(name), current.get(name))
        for name in sorted(set(recorded) | set(current))
        if recorded.get(name) != current.get(name)
    ]


def python_change(recorded_env: dict) -> tuple[str, str] | None:
    recorded, current = recorded_env.get("python"), capture_environment()["python"]
    return None if recorded == current else (recorded, current)
