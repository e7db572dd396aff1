"""`cairn lineage REF`."""

from __future__ import annotations

from enum import Enum

import typer

from cairn.cli.output import console, print_json
from cairn.lineage import Walk, lineage, to_dot, to_prov_json, to_tree
from cairn.models.subjects import lineage_subject


class Format(str, Enum):
    tree = "tree"
    prov_json = "prov-json"
    dot = "dot"


def lineage_command(
    subject: str = typer.Argument(
        ...,
        help="A model version (NAME/VERSION, NAME@ALIAS), a dataset version (NAME/VERSION), "
        "an artifact (NAME, NAME:VERSION, RUN/NAME), a run or a prediction id.",
    ),
    direction: Walk = typer.Option(
        Walk.UP, "--direction", "-d", help="up: where it came from; down: what uses it."
    ),
    depth: int = typer.Option(None, "--depth", min=0, help="Stop after this many edges."),
    format: Format = typer.Option(Format.tree, "--format", "-f", help="tree, prov-json or dot."),
) -> None:
    """Where an artifact or run came from, or what was made from it."""
    graph = lineage(lineage_subject(subject), direction, depth)
    if format is Format.prov_json:
        print_json(to_prov_json(graph))
    elif format is Format.dot:
        console.out(to_dot(graph), end="", highlight=False)
    else:
        console.print(to_tree(graph))
        console.print(f"[dim]{len(graph.artifacts())} artifact(s), {len(graph.runs())} run(s)[/]")
