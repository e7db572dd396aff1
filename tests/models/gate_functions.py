"""Custom gates importable by path, as users write them (tests/models/test_gates.py)."""

from __future__ import annotations

from cairn.models.gates import Candidate, GateResult


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
