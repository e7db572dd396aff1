"""The old name of `cairn.compute.run_context`, for cairn.tuning's imports until they move
there; nothing else imports it."""

from cairn.compute.run_context import RunContext, context_of, run_inside

__all__ = ["RunContext", "context_of", "run_inside"]
