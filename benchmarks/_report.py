"""Printing a benchmark's table (Rich) and writing it as Markdown to benchmarks/results/."""

from __future__ import annotations

import platform
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def report(
    name: str, title: str, columns: list[str], rows: list[list[str]], notes: str = ""
) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == columns[0] else "right")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)
    if notes:
        Console().print(escape(notes))  # notes quote code: `[f(i) ...]` is not markup
    lines = [
        f"### {title}",
        "",
        f"Machine: {platform.machine()}, {_cpu()}, Python {platform.python_version()}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if notes:
        lines += ["", notes]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def _cpu() -> str:
    import os

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs"
