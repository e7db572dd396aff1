"""Custom gates importable by path, as users write them (tests/models/test_gates.py)."""

from __future__ import annotations

from cairn import models
from cairn.models.gates import Candidate, GateResult, custom


def refuse(candidate: Candidate, why: str) -> tuple[bool, str]:
    return False, why


def flavor_is(candidate: Candidate, flavor: str) -> bool:
    return candidate.version.flavor == flavor


def described(candidate: Candidate) -> GateResult:
    """A gate function may say everything itself; the registry names the gate."""
    return GateResult("ignored", "ignored", True, f"{candidate.version} looked fine", 1.5)


def broken(candidate: Candidate) -> bool:
    return {}["missing"]


def not_a_verdict(candidate: Candidate) -> str:
    return "yes"


def archives_the_candidate(candidate: Candidate) -> bool:
    """Passes, having archived the version it judges: an archival while a move's gates run."""
    models.archive(candidate.name, candidate.version.version, store=candidate.store)
    return True


def adds_a_refusing_gate(candidate: Candidate) -> bool:
    """Passes; the first time, it guards the alias with a gate that refuses: a gate added
    while a move's gates run."""
    if len(models.list_gates(candidate.name, candidate.alias, store=candidate.store)) == 1:
        refusing = custom("tests.models.gate_functions:refuse", why="added while gates ran")
        models.add_gate(candidate.name, candidate.alias, refusing, store=candidate.store)
    return True


def deletes_the_alias(candidate: Candidate) -> bool:
    """Passes, having deleted the alias if it is set: a move by another writer while a move's
    gates run."""
    if candidate.alias in models.get_model(candidate.name, store=candidate.store).aliases:
        models.delete_alias(candidate.name, candidate.alias, store=candidate.store)
    return True
