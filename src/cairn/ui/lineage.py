"""The lineage page (`/lineage/{ref}`) and its API: the provenance graph around a run, an
artifact, a dataset or model version, or a prediction, walked up (where it came from), down
(what it fed) or both, each node with the page to open for it.

A reference reads as `cairn lineage` reads it (cairn.models.subjects), plus node ids such as
`artifact:12` and `run:ID`, which is what the page's own links use.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.datasets.versions import KINDS as DATASET_KINDS
from cairn.errors import RequestError
from cairn.lineage import Node, Walk, lineage
from cairn.lineage.graph import node_of
from cairn.models.subjects import lineage_subject
from cairn.models.versions import KIND as MODEL_KIND
from cairn.states import TextEnum
from cairn.store import Store
from cairn.store.nodes import NodeKind
from cairn.ui.web import api, page, query_int, query_text, store_of

MAX_DEPTH = 1000  # deeper than any real history; a bound so the parameter is checked


class Direction(TextEnum):
    """Which way the page walks from its subject."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


class Shown(TextEnum):
    """What a node is to a reader: an artifact is told apart by what made it one."""

    RUN = "run"
    MODEL = "model"  # a model version
    DATASET = "dataset"  # a dataset version
    ARTIFACT = "artifact"
    PREDICTION = "prediction"


@dataclass(frozen=True)
class ShownNode:
    id: str
    kind: Shown
    label: str
    url: str
    root: bool
    attrs: dict

    def as_json(self, *, attrs: bool = True) -> dict:
        shown = {"id": self.id, "kind": self.kind.value, "label": self.label, "url": self.url}
        return {**shown, "root": self.root, **({"attrs": self.attrs} if attrs else {})}


@dataclass
class LineageView:
    ref: str
    direction: Direction
    depth: int | None
    root: ShownNode
    nodes: list[ShownNode]  # the root first
    edges: list[tuple[str, str, str]]  # (src, dst, relation): src came from, or used, dst

    def as_json(self, *, attrs: bool = True) -> dict:
        return {
            "ref": self.ref,
            "root": self.root.id,
            "direction": self.direction.value,
            "depth": self.depth,
            "nodes": [n.as_json(attrs=attrs) for n in self.nodes],
            "edges": [{"src": s, "dst": d, "relation": r} for s, d, r in self.edges],
        }

    @property
    def url(self) -> str:
        """This page's address, without its query."""
        return f"/lineage/{quote(self.ref, safe='/:@')}"

    def labels(self) -> dict[str, str]:
        return {n.id: n.label for n in self.nodes}


def lineage_view(ref: str, direction: Direction, depth: int | None, store: Store) -> LineageView:
    """The graph around what `ref` names, merged from both walks for Direction.BOTH."""
    if not ref.strip():
        raise RequestError("give a reference: a run id, run:ID, artifact:ID, NAME/VERSION ...")
    root = node_of(lineage_subject(ref, store=store), store)
    walks = [Walk.UP, Walk.DOWN] if direction is Direction.BOTH else [Walk(direction.value)]
    graphs = [lineage(root, walk, depth, store=store) for walk in walks]
    nodes = {node_id: node for g in graphs for node_id, node in g.nodes.items()}
    edges = sorted({(s, d, r.value) for g in graphs for s, d, r in g.edges})
    shown = sorted(
        (_shown(node, root) for node in nodes.values()),
        key=lambda n: (not n.root, list(Shown).index(n.kind), n.label, n.id),
    )
    return LineageView(ref, direction, depth, shown[0], shown, edges)


def _shown(node: Node, root: str) -> ShownNode:
    attrs = node.attrs
    if node.kind is NodeKind.RUN:
        kind, label, url = Shown.RUN, node.label, f"/runs/{attrs['id']}"
    elif node.kind is NodeKind.PREDICTION:
        kind, label, url = Shown.PREDICTION, f"prediction of {node.label}", f"/lineage/{node.id}"
    elif attrs.get("kind") == MODEL_KIND:
        kind, label = Shown.MODEL, f"{attrs['name']}/{attrs['version']}"
        url = f"/models/{quote(attrs['name'], safe='')}"
    elif attrs.get("kind") in DATASET_KINDS:
        kind, label = Shown.DATASET, node.label
        url = f"/datasets/{quote(attrs['name'], safe='')}"
    else:
        kind, label, url = Shown.ARTIFACT, node.label, f"/lineage/{node.id}"
    return ShownNode(node.id, kind, label, url, node.id == root, attrs)


def _view(request: Request) -> LineageView:
    try:
        direction = Direction(request.query_params.get("direction") or Direction.BOTH)
    except ValueError:
        raise RequestError(
            f"direction must be up, down or both, not {request.query_params['direction']!r}"
        ) from None
    depth = query_int(request, "depth", 0, 0, MAX_DEPTH) if query_text(request, "depth") else None
    return lineage_view(request.path_params["ref"], direction, depth, store_of(request))


async def lineage_api(request: Request) -> Response:
    return api(_view(request).as_json())


async def lineage_page(request: Request) -> Response:
    view = _view(request)
    return page(request, "lineage.html", view=view, drawing=view.as_json(attrs=False))


def routes() -> list[Route]:
    return [
        Route("/lineage/{ref:path}", lineage_page),
        Route("/api/lineage/{ref:path}", lineage_api),
    ]
