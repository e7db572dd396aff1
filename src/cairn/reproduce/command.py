"""The process that re-runs a run's recorded command line, for `reproduce` and `export`."""

from __future__ import annotations

from collections.abc import Sequence

from cairn.reproduce.errors import CannotReproduce

# A notebook's kernel: re-running it would wait for a notebook to connect, not run the cells.
_NOTEBOOK_KERNEL = ["-m", "ipykernel_launcher"]


def command_line(argv: Sequence[str], python: str) -> list[str]:
    """`python` and the recorded arguments after the interpreter: a script with its
    arguments, `-m module ...` or `-c code ...`. The run was a Python process, so even a
    console script such as `pytest` is a Python file the interpreter runs as it was."""
    if not argv or not argv[0] or list(argv[:2]) == _NOTEBOOK_KERNEL:
        raise CannotReproduce(
            "the run was started from an interactive interpreter (or a notebook): it recorded "
            "no script or module to re-run"
        )
    if argv[0] in ("-m", "-c") and len(argv) < 2:
        raise CannotReproduce(f"the recorded command line {list(argv)} names no module or code")
    return [python, *argv]
