"""Samplers and schedulers by name: Optuna's, so the math is theirs and well tested.

A sampler proposes parameters (TPE, Gaussian process, CMA-ES, quasi-Monte Carlo, random);
a scheduler stops poor trials early from what they report (ASHA, Hyperband, median rule).
Either can also be given as an Optuna object, for settings the names do not cover.
"""

from __future__ import annotations

from cairn.errors import InvalidValueError

SAMPLERS = ("tpe", "random", "gp", "cmaes", "qmc")
SCHEDULERS = ("asha", "hyperband", "median", "none")


def make_sampler(sampler: object, seed: int | None) -> tuple[object, str]:
    """The Optuna sampler and the name it is recorded under."""
    import optuna

    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler, type(sampler).__name__
    builders = {
        # The constant liar tells TPE about trials still running, so parallel workers
        # are not all sent to the same promising spot.
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        "qmc": lambda: optuna.samplers.QMCSampler(seed=seed),
    }
    if sampler not in builders:
        raise InvalidValueError(
            f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)} "
            "or an optuna.samplers object"
        )
    return builders[sampler](), sampler


def make_pruner(scheduler: object) -> tuple[object, str]:
    """The Optuna pruner and the name it is recorded under."""
    import optuna

    if isinstance(scheduler, optuna.pruners.BasePruner):
        return scheduler, type(scheduler).__name__
    builders = {
        # Optuna's successive halving decides each trial alone at each rung: asynchronous.
        "asha": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(),
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
        "none": optuna.pruners.NopPruner,
    }
    key = "none" if scheduler is None else scheduler
    if key not in builders:
        raise InvalidValueError(
            f"unknown scheduler {scheduler!r}; use one of asha, hyperband, median, None "
            "or an optuna.pruners object"
        )
    return builders[key](), key
