"""`cairn lineage REF`."""

from __future__ import annotations

from enum import Enum

import typer

from cairn.cli.output import console, print_json
from cairn.errors import InvalidNameError, NotFoundError
from cairn.lineage import Walk, lineage, to_dot, to_prov_json, to_tree
from cairn.models import ModelInfo, ModelVersion, get_model, get_version


class Format(str, Enum):
    tree = "tree"
    prov_json = "prov-json"
    dot = "dot"


def lineage_command(
    subject: str = typer.Argument(
        ...,
        help="A model version (NAME/VERSION, NAME@ALIAS), an artifact (NAME, NAME:VERSION, "
        "RUN/NAME) or a run id.",
    ),
    direction: Walk = typer.Option(
        Walk.UP, "--direction", "-d", help="up: where it came from; down: what uses it."
    ),
    depth: int = typer.Option(None, "--depth", min=0, help="Stop after this many edges."),
    format: Format = typer.Option(Format.tree, "--format", "-f", help="tree, prov-json or dot."),
) -> None:
    """Where an artifact or run came from, or what was made from it."""
    graph = lineage(_model_version(subject) or subject, direction, depth)
    if format is Format.prov_json:
        print_json(to_prov_json(graph))
    elif format is Format.dot:
        console.out(to_dot(graph), end="", highlight=False)
    else:
        console.print(to_tree(graph))
        console.print(f"[dim]{len(graph.artifacts())} artifact(s), {len(graph.runs())} run(s)[/]")


def _model_version(subject: str) -> ModelVersion | None:
    """The model version `subject` names, if it reads as one and the model exists."""
    name, at, alias = subject.partition("@")
    head, slash, number = subject.partition("/")
    if not (at and alias) and not (slash and number.isdigit()):
        return None
    try:
        return get_version(subject)
    except NotFoundError:
        if _model_or_none(name if at else head) is None:
            return None  # not a model: an artifact reference like RUN/NAME
        raise


def _model_or_none(name: str) -> ModelInfo | None:
    try:
        return get_model(name)
    except (NotFoundError, InvalidNameError):
        return None
