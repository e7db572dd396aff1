"""Opening a search: its study in the store, new or continued, and the Optuna study
rebuilt from what the earlier calls under that name finished."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.store import Store
from cairn.tuning import studies
from cairn.tuning.arguments import TuneArguments
from cairn.tuning.optuna_study import SharedStudy


@dataclass(frozen=True)
class OpenedSearch:
    study: studies.Study
    history: list[studies.TrialRecord]  # every trial of earlier calls, by number
    resumed: int  # the finished ones: they count towards n_trials


def open_search(
    store: Store, args: TuneArguments, resume: bool, shared: SharedStudy
) -> OpenedSearch:
    """Continue the study named `args.name` (same space, metric and mode) or start one; trials
    a killed tuner left running are marked crashed, the finished ones replayed."""
    proposed = studies.Study(
        0, args.name, 0, args.metric, args.mode, args.sampler_name, args.scheduler_name,
        args.search.describe(), args.search.fingerprint(), 0.0,
    )  # fmt: skip
    study, resumed = studies.open_study(store, proposed, resume)
    history: list[studies.TrialRecord] = []
    if resumed:
        studies.mark_crashed(store, study)
        history = studies.load_trials(store, study, curves=True)
    shared.replay(history)
    finished = [record for record in history if record.state.told]
    shared.queue_grid(args.search.grid_points(), [record.params for record in finished])
    return OpenedSearch(study, history, len(finished))
