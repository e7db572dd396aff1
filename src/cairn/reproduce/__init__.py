"""Reproducing runs: their code, their environment, their outputs' digests."""

from cairn.reproduce.export import export
from cairn.reproduce.rerun import EnvironmentMismatch, Reproduction, reproduce

__all__ = ["EnvironmentMismatch", "Reproduction", "export", "reproduce"]
