"""How the CLI talks: tables that fit the terminal for people, JSON for programs, errors on
stderr.

A table never breaks a value to fit the terminal. Its columns give way instead: a column of
tokens (params, words) wraps between them, a name is cut short with an ellipsis, and when
that is not enough the least important columns are hidden and a footer names them and says
how to see them.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Annotated

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from cairn.errors import CairnError

# The CLI's commands take these from here with the table helpers; the UI shares them.
from cairn.readable import duration as duration
from cairn.readable import number as number
from cairn.readable import size as size
from cairn.states import RunStatus, TrialState

console = Console()
errors = Console(stderr=True)

CLIP_MIN = 16  # a name cut short keeps this many cells: enough to tell most names apart
TOKEN_MAX = 32  # a token longer than this may be cut short rather than hide its column
FRAME_PER_COLUMN = 3  # a space either side of the content and one rule
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Columns to show, comma-separated, in this order, e.g. id,name,status "
        "(the footer of a table that does not fit names the hidden ones).",
    ),
]


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


def pairs(values: Mapping[str, object]) -> tuple[str, ...]:
    """`key=value` tokens, by key, for a Fit.WRAP cell."""
    return tuple(f"{k}={number(v)}" for k, v in sorted(values.items()))


STATUS_STYLE = {
    RunStatus.RUNNING: "cyan",
    RunStatus.FINISHED: "green",
    RunStatus.FAILED: "red",
    RunStatus.KILLED: "yellow",
    RunStatus.CRASHED: "red",
    RunStatus.PRUNED: "magenta",
}


def status(state: RunStatus | TrialState) -> Text:
    """A state in the colour of the run status it amounts to."""
    run_status = state.run_status if isinstance(state, TrialState) else state
    return Text(state.value, style=STATUS_STYLE[run_status])


class Fit(Enum):
    """How a column gives way when its table is wider than the terminal."""

    WHOLE = "whole"  # never narrower than its widest value: ids, numbers, states, times
    WRAP = "wrap"  # cells are tuples of tokens, wrapped between tokens: params, prose
    CLIP = "clip"  # cut short with an ellipsis: names


@dataclass(frozen=True)
class Column:
    key: str  # its name for --columns and in the footer
    rank: int = 0  # the highest rank is hidden first (of equal ranks, the rightmost)
    fit: Fit = Fit.WHOLE
    header: str | None = None  # the key if None
    justify: JustifyMethod = "left"
    style: str = ""
    default: bool = True  # shown unless --columns picks others

    @property
    def title(self) -> str:
        return self.key if self.header is None else self.header


Cell = str | Text | tuple[str, ...]


class UnknownColumnError(CairnError, typer.BadParameter):
    """--columns names a column the table does not have."""


def print_table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Cell]],
    *,
    chosen: str | None = None,
    choosable: bool = False,
) -> None:
    """Print rows (column key -> cell; a missing key is an empty cell) as a table as wide
    as the terminal at most, with a footer if columns were hidden or values cut short.

    chosen: the --columns text, if given; choosable: whether the command has --columns.
    """
    shown = _pick(columns, chosen)
    cells = [[_cell(row.get(c.key), c.fit) for c in shown] for row in rows]
    bounds = [_bounds(c, [row[i] for row in cells]) for i, c in enumerate(shown)]
    widths, hidden = _fit(shown, bounds, console.width)
    kept = sorted(widths)
    # Titles, headers and cells are Text: names and values are the user's, never markup.
    table = Table(title=Text(title, style="table.title"), box=box.HEAVY_HEAD, padding=(0, 1))
    for i in kept:
        column = shown[i]
        table.add_column(
            Text(column.title),
            justify=column.justify,
            style=column.style,
            width=widths[i],
            no_wrap=True,
            overflow="ellipsis",
        )
    shortened = False
    for row in cells:
        shaped = [_shape(row[i], widths[i]) for i in kept]
        table.add_row(*(text for text, _ in shaped))
        shortened = shortened or any(cut for _, cut in shaped)
    console.print(table)
    by_rank = sorted(kept, key=lambda i: (shown[i].rank, i))
    footer = _footer([shown[i] for i in by_rank], [shown[i] for i in hidden], shortened, choosable)
    if footer:
        console.print(Text(footer, style="dim"))


def _pick(columns: Sequence[Column], chosen: str | None) -> list[Column]:
    if chosen is None:
        return [c for c in columns if c.default]
    by_key = {c.key: c for c in columns}
    keys = list(dict.fromkeys(k.strip() for k in chosen.split(",") if k.strip()))
    unknown = [k for k in keys if k not in by_key]
    if unknown or not keys:
        wrong = f"no column {unknown[0]!r}" if unknown else "name at least one column"
        raise UnknownColumnError(
            f"{wrong}; this table has {', '.join(by_key)}", param_hint="'--columns'"
        )
    return [replace(by_key[k], rank=rank) for rank, k in enumerate(keys)]


def _cell(value: Cell | None, fit: Fit) -> Text | tuple[str, ...]:
    """A cell on one line: tokens for Fit.WRAP, text otherwise."""
    if fit is Fit.WRAP:
        tokens = value if isinstance(value, tuple) else str(value or "").split()
        return tuple(" ".join(token.split()) for token in tokens)
    if isinstance(value, Text):
        return value
    return Text(" ".join(str(value if value is not None else "").split()))


def _bounds(column: Column, cells: list) -> tuple[int, int]:
    """The least and the most width the column's content can take."""
    header = cell_len(column.title)
    if column.fit is Fit.WRAP:
        tokens = [min(cell_len(token), TOKEN_MAX) for cell in cells for token in cell]
        lines = [cell_len(" ".join(cell)) for cell in cells]
        return max([header, *tokens]), max([header, *lines])
    most = max([header, *(text.cell_len for text in cells)])
    if column.fit is Fit.CLIP:
        return min(most, max(header, CLIP_MIN)), most
    return most, most


def _fit(
    columns: list[Column], bounds: list[tuple[int, int]], width: int
) -> tuple[dict[int, int], list[int]]:
    """The width of each column kept (by index), and the indexes hidden in the order they
    were (least important first). Columns go strictly by rank, so what shows is predictable."""
    by_rank = sorted(range(len(columns)), key=lambda i: (columns[i].rank, i))
    kept = list(by_rank)
    while len(kept) > 1 and _least(kept, bounds) > width:
        kept.pop()
    spare = width - _least(kept, bounds)
    widths = {}
    for i in kept:  # room left over goes to the most important columns first
        least, most = bounds[i]
        extra = max(0, min(most - least, spare))
        widths[i] = least + extra
        spare -= extra
    return widths, by_rank[len(kept) :][::-1]


def _least(kept: list[int], bounds: list[tuple[int, int]]) -> int:
    return sum(bounds[i][0] for i in kept) + FRAME_PER_COLUMN * len(kept) + 1


def _shape(cell: Text | tuple[str, ...], width: int) -> tuple[Text, bool]:
    """The cell laid out in `width` cells, and whether anything in it was cut short."""
    if isinstance(cell, Text):
        if cell.cell_len <= width:
            return cell, False
        text = cell.copy()
        text.truncate(width, overflow="ellipsis")
        return text, True
    lines: list[str] = []
    cut = False
    for token in cell:
        if cell_len(token) > width:
            clipped = Text(token)
            clipped.truncate(width, overflow="ellipsis")
            token, cut = clipped.plain, True
        if lines and cell_len(lines[-1]) + 1 + cell_len(token) <= width:
            lines[-1] += " " + token
        else:
            lines.append(token)
    return Text("\n".join(lines)), cut


def _footer(shown: list[Column], hidden: list[Column], shortened: bool, choosable: bool) -> str:
    """What was left out and how to see it; shown is by importance, hidden from the least."""
    notes = []
    if hidden:
        plural = "s" if len(hidden) > 1 else ""
        notes.append(f"{len(hidden)} column{plural} hidden ({', '.join(c.key for c in hidden)})")
    if shortened:
        notes.append("… marks values cut short")
    if not notes:
        return ""
    ways = ["widen the terminal"]
    if choosable and hidden:
        ways.append(f"--columns={shown[0].key},{hidden[-1].key}")
    ways.append("--json")
    return f"{'; '.join(notes)}: {', or '.join(ways)}"
