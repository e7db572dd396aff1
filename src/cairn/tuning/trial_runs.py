"""A trial's run and its row in the trials table, written together: the run, its params and
the row in one transaction when the trial starts; the run's end and the row's outcome in
another when it ends. A reader never sees a trial without its run, or the reverse."""

from __future__ import annotations

from cairn.store import Store
from cairn.tracking import Run, start_run
from cairn.tuning import studies


def start_trial_run(
    store: Store, study: studies.Study, study_run: Run, record: studies.TrialRecord
) -> Run:
    """The trial's run, a child of the study's run; sets `record.run_id`. The code and
    environment records are the parent's, and the caller's active run stays as it is."""
    with store.writer() as conn:
        run = start_run(
            f"trial-{record.number}",
            parent=study_run,
            params=record.params,
            capture=False,
            activate=False,
            store=store,
            conn=conn,
        )
        record.run_id = run.id
        studies.insert_trial(conn, study, record)
    return run


def end_trial_run(
    run: Run, study: studies.Study, record: studies.TrialRecord, error: str | None
) -> None:
    """End the run in the status of `record.state`, and store the record's outcome."""
    with run.ending(record.state.run_status, error) as conn:
        studies.update_trial(conn, study, record)
