"""The progress bar of a search: trials done of total, running, pruned, failed, best so far."""

from __future__ import annotations

import math
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TuneProgress:
    def __init__(self, name: str, total: float, done: int, show: bool) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[cyan]{task.fields[running]} running"),
            TextColumn("[magenta]{task.fields[pruned]} pruned"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("best [bold]{task.fields[best]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),  # where the terminal that decides `show` is
            disable=not show,
        )
        self._task = self._bar.add_task(
            f"tune {name}",
            total=None if math.isinf(total) else total,
            completed=done,
            running=0,
            pruned=0,
            failed=0,
            best="-",
        )

    def update(self, done: int, running: int, pruned: int, failed: int, best: float | None) -> None:
        self._bar.update(
            self._task,
            completed=done,
            running=running,
            pruned=pruned,
            failed=failed,
            best="-" if best is None else f"{best:.4g}",
        )

    def __enter__(self) -> TuneProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()
