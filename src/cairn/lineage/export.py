"""Lineage graphs as a terminal tree, W3C PROV-JSON and Graphviz DOT."""

from __future__ import annotations

import datetime as dt
import json

from rich.markup import escape
from rich.tree import Tree

from cairn.lineage.graph import LineageGraph, Node
from cairn.store.nodes import NodeKind, Relation, parse_node

PROV_NAMESPACE = "https://cairn.dev/ns/prov#"


def _describe(node: Node) -> str:
    if node.kind is NodeKind.ARTIFACT:
        a = node.attrs
        return f"[bold]{node.label}[/] [dim]{a['kind']} {a['digest'][:12]}[/]"
    a = node.attrs
    if node.kind is NodeKind.PREDICTION:
        moment = dt.datetime.fromtimestamp(a["ts"]).strftime("%Y-%m-%d %H:%M:%S")
        return f"[magenta]prediction {a['id']} {escape(node.label)}[/] [dim]{moment}[/]"
    params = " ".join(f"{k}={v}" for k, v in sorted(a.get("params", {}).items()))
    commit = f" commit {a['commit'][:10]}" if a.get("commit") else ""
    line = f"[cyan]run {node.label}[/] [dim]{a['id']} {a['status']}{commit}[/]"
    return f"{line} {escape(params)}" if params else line


def to_tree(graph: LineageGraph) -> Tree:
    """A Rich tree from the root; a node reached twice is shown once, then referred to."""
    shown: set[str] = set()

    def add(parent: Tree, node_id: str, relation: str | None) -> None:
        node = graph.nodes[node_id]
        prefix = f"[dim]{relation}[/] " if relation else ""
        if node_id in shown:
            parent.add(f"{prefix}{node.label} [dim](see above)[/]")
            return
        shown.add(node_id)
        branch = parent.add(prefix + _describe(node))
        for child, rel in graph.children(node_id):
            add(branch, child, rel)

    root = Tree(_describe(graph.nodes[graph.root]))
    shown.add(graph.root)
    for child, rel in graph.children(graph.root):
        add(root, child, rel)
    return root


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def _prov_id(node_id: str) -> str:
    kind, key = parse_node(node_id)
    return f"cairn:{kind.value}/{key}"


def to_prov_json(graph: LineageGraph) -> dict:
    """The graph as a W3C PROV-JSON document: artifacts are entities, runs and predictions
    (the act of answering a request with a model version) activities."""
    doc: dict = {"prefix": {"cairn": PROV_NAMESPACE}, "entity": {}, "activity": {}}
    for node in graph.nodes.values():
        a = node.attrs
        if node.kind is NodeKind.ARTIFACT:
            doc["entity"][_prov_id(node.id)] = {
                "prov:label": node.label,
                "prov:type": f"cairn:{a['kind']}",
                "cairn:digest": a["digest"],
                "cairn:version": a["version"],
            }
        elif node.kind is NodeKind.PREDICTION:
            doc["activity"][_prov_id(node.id)] = {
                "prov:label": f"prediction {node.label}",
                "prov:type": "cairn:prediction",
                "prov:startTime": _iso(a["ts"]),
                "cairn:route": a["route"],
                "cairn:latency_ms": a["latency_ms"],
                "cairn:shadow": a["shadow"],
                "cairn:fallback": a["fallback"],
            }
        else:
            doc["activity"][_prov_id(node.id)] = {
                "prov:label": node.label,
                "prov:startTime": _iso(a["started"]),
                "prov:endTime": _iso(a["ended"]),
                "cairn:status": a["status"],
                **({"cairn:commit": a["commit"]} if a.get("commit") else {}),
                **({"cairn:params": a["params"]} if a.get("params") else {}),
            }
    relations: dict[str, dict] = {r.value: {} for r in Relation}
    for i, (src, dst, relation) in enumerate(graph.edges):
        if relation is Relation.WAS_GENERATED_BY:
            record = {"prov:entity": _prov_id(src), "prov:activity": _prov_id(dst)}
        else:
            record = {"prov:activity": _prov_id(src), "prov:entity": _prov_id(dst)}
        relations[relation.value][f"_:e{i}"] = record
    doc.update({k: v for k, v in relations.items() if v})
    return doc


_DOT_SHAPES = {NodeKind.ARTIFACT: "ellipse", NodeKind.RUN: "box", NodeKind.PREDICTION: "diamond"}


def to_dot(graph: LineageGraph) -> str:
    """Graphviz: artifacts as ellipses, runs as boxes, predictions as diamonds, arrows from
    product to source."""
    lines = ["digraph lineage {", "  rankdir=BT;"]
    for node in graph.nodes.values():
        shape = _DOT_SHAPES[node.kind]
        label = json.dumps(node.label)
        lines.append(f"  {json.dumps(node.id)} [label={label}, shape={shape}];")
    for src, dst, relation in graph.edges:
        lines.append(f"  {json.dumps(src)} -> {json.dumps(dst)} [label={json.dumps(relation)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
