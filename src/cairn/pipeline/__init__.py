"""Memoized pipeline steps: run only what changed, keep every intermediate."""

from cairn.pipeline.cache import invalidate, summaries
from cairn.pipeline.hashing import StepInputError
from cairn.pipeline.step import Step, step

__all__ = ["Step", "StepInputError", "invalidate", "step", "summaries"]
