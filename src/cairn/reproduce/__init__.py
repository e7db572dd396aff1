"""Reproducing runs: their code, their environment, their outputs' digests."""

from cairn.reproduce.errors import CannotReproduce
from cairn.reproduce.export import export
from cairn.reproduce.rerun import EnvironmentMismatch, Reproduction, reproduce
from cairn.reproduce.untracked import UntrackedChange, UntrackedFilesChanged, UntrackedState

__all__ = [
    "CannotReproduce",
    "EnvironmentMismatch",
    "Reproduction",
    "UntrackedChange",
    "UntrackedFilesChanged",
    "UntrackedState",
    "export",
    "reproduce",
]
