"""Provenance: where every artifact came from and what depends on it."""

from cairn.lineage.export import to_dot, to_prov_json, to_tree
from cairn.lineage.graph import LineageGraph, Node, Walk, lineage

__all__ = ["LineageGraph", "Node", "Walk", "lineage", "to_dot", "to_prov_json", "to_tree"]
