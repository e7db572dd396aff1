"""Tune: parallel hyperparameter search with early stopping, every trial a tracked run.

    def objective(trial):
        model = make(trial.params)
        for epoch in range(20):
            score = model.fit_epoch()
            trial.report(score, step=epoch)      # raises cairn.Pruned when ASHA says stop
        return score

    result = cairn.tune(objective, {"lr": cairn.loguniform(1e-4, 1e-1)}, "acc", "max",
                        n_trials=64, executor="local", name="lr-search")
    result.best_params, result.best_run, result.trials

Optuna's samplers and pruners do the math; cairn runs the trials on its executor, keeps
each as a child run of the study's run, and resumes a search by its name.
"""

from cairn.tuning.distributions import (
    choice,
    grid,
    lograndint,
    loguniform,
    qrandint,
    quniform,
    randint,
    randn,
    uniform,
)
from cairn.tuning.draw import Draw
from cairn.tuning.result import TuneResult, load_result
from cairn.tuning.studies import StudyMismatchError, TrialRecord, list_studies
from cairn.tuning.trial import Pruned, Trial
from cairn.tuning.tuner import tune

__all__ = [
    "Draw",
    "Pruned",
    "StudyMismatchError",
    "Trial",
    "TrialRecord",
    "TuneResult",
    "choice",
    "grid",
    "list_studies",
    "load_result",
    "lograndint",
    "loguniform",
    "qrandint",
    "quniform",
    "randint",
    "randn",
    "tune",
    "uniform",
]
