"""The model registry: versions, aliases with history, owners, release gates, audit, hooks."""

from cairn.models import gates
from cairn.models.aliases import AliasMove, alias_history, delete_alias, set_alias
from cairn.models.audit import history
from cairn.models.gate_rules import GateRule, add_gate, list_gates, remove_gate
from cairn.models.hooks import HookEvent, add_hook, deliveries, list_hooks, remove_hook
from cairn.models.loaded import LoadedModel
from cairn.models.loading import load
from cairn.models.ownership import Orphan, orphans, transfer
from cairn.models.references import ModelRef, parse_ref
from cairn.models.signature import Signature
from cairn.models.versions import (
    ModelInfo,
    ModelVersion,
    archive,
    delete_tag,
    get_model,
    get_version,
    list_models,
    list_versions,
    register,
    set_tag,
    unarchive,
)

__all__ = [
    "AliasMove",
    "GateRule",
    "HookEvent",
    "LoadedModel",
    "ModelInfo",
    "ModelRef",
    "ModelVersion",
    "Orphan",
    "Signature",
    "add_gate",
    "add_hook",
    "alias_history",
    "archive",
    "delete_alias",
    "delete_tag",
    "deliveries",
    "gates",
    "get_model",
    "get_version",
    "history",
    "list_gates",
    "list_hooks",
    "list_models",
    "list_versions",
    "load",
    "orphans",
    "parse_ref",
    "register",
    "remove_gate",
    "remove_hook",
    "set_alias",
    "set_tag",
    "transfer",
    "unarchive",
]
