"""Objectives for the tuning tests, importable by worker processes and Ray workers."""

from __future__ import annotations

import math


def quadratic(trial) -> float:
    """Best at x = 0.3; a curve over 8 steps that converges to the final value, so poor
    trials look poor early and a scheduler can stop them."""
    x = trial.params["x"]
    final = -((x - 0.3) ** 2)
    for step in range(8):
        trial.report(final * (1 + 1 / (step + 1)), step)
    return final


def no_curve(trial) -> dict:
    x = trial.params["x"]
    trial.run.log({"side": x * 2})
    return {"score": -((x - 0.3) ** 2), "extra": 1.0}


def flaky(trial) -> float:
    """Fails in three ways depending on x, succeeds otherwise."""
    x = trial.params["x"]
    if x < 0.25:
        raise RuntimeError(f"diverged at x={x}")
    if x < 0.5:
        return None
    if x < 0.75:
        return math.nan
    return x
