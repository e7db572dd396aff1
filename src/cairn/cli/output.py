"""How the CLI talks: Rich tables for people, JSON for programs, errors on stderr."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys

from rich.console import Console

console = Console()
errors = Console(stderr=True)


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, allow_nan=True) + "\n")


def when(ts: float | None, *, short: bool = False) -> str:
    """A local time; with `short`, today's times without the date."""
    if ts is None:
        return "-"
    moment = dt.datetime.fromtimestamp(ts)
    if short and moment.date() == dt.date.today():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def number(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value


def size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


STATUS_STYLE = {
    "finished": "green",
    "completed": "green",
    "running": "cyan",
    "pruned": "magenta",
    "failed": "red",
    "crashed": "red",
    "killed": "yellow",
}


def status(value: str) -> str:
    return f"[{STATUS_STYLE.get(value, 'white')}]{value}[/]"
