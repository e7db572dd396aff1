"""Studies and trials in the store: what a resumed search starts from, what `cairn tune` shows.

A trial row is written with its run, in the run's transaction, when the trial starts
(state `running`), and updated in the transaction that ends the run, so a killed tuner
leaves rows that say `running`; the next `cairn.tune` under that name marks them
`crashed` and runs new trials in their place.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.errors import CairnError, NotFoundError
from cairn.states import Direction, TrialState
from cairn.store import Store, schema


class StudyMismatchError(CairnError, ValueError):
    """A study of that name exists with another space, metric or mode."""


@dataclass(frozen=True)
class Study:
    id: int
    name: str
    version: int
    metric: str
    mode: Direction
    sampler: str
    scheduler: str
    space: str
    fingerprint: str
    created: float


@dataclass
class TrialRecord:
    number: int
    state: TrialState
    value: float | None
    params: dict
    distributions: dict  # name -> Optuna's JSON for the distribution
    run_id: str
    started: float
    ended: float | None
    curve: dict[int, float] = field(default_factory=dict)  # step -> reported value

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


def find_study(store: Store, name: str, version: int | None = None) -> Study:
    """The latest version of study `name`, or the one asked for."""
    table = schema.studies
    query = sa.select(table).where(table.c.name == name)
    query = query.where(table.c.version == version) if version else query
    with store.reader() as conn:
        row = conn.execute(query.order_by(table.c.version.desc()).limit(1)).first()
    if row is None:
        known = ", ".join(s.name for s in list_studies(store)) or "none yet"
        raise NotFoundError(f"no study named {name!r} (studies: {known})")
    return _study(row)


def list_studies(store: Store) -> list[Study]:
    """The latest version of every study, newest first."""
    table = schema.studies
    latest = (
        sa.select(table.c.name, sa.func.max(table.c.version).label("version"))
        .group_by(table.c.name)
        .subquery()
    )
    query = (
        sa.select(table)
        .join(latest, (table.c.name == latest.c.name) & (table.c.version == latest.c.version))
        .order_by(table.c.created.desc())
    )
    with store.reader() as conn:
        return [_study(row) for row in conn.execute(query)]


def _study(row: sa.Row) -> Study:
    return Study(**{**row._mapping, "mode": Direction(row.mode)})


def open_study(store: Store, proposed: Study, resume: bool) -> tuple[Study, bool]:
    """The study to continue (and True), or a new one written from `proposed` (and False)."""
    try:
        existing = find_study(store, proposed.name)
    except NotFoundError:
        existing = None
    if existing is not None and resume:
        differences = [
            f"{what} {str(getattr(existing, what))!r} (now {str(getattr(proposed, what))!r})"
            for what in ("metric", "mode")
            if getattr(existing, what) != getattr(proposed, what)
        ]
        if existing.fingerprint != proposed.fingerprint:
            differences.append(f"space {existing.space} (now {proposed.space})")
        if differences:
            raise StudyMismatchError(
                f"study {proposed.name!r} exists with " + "; ".join(differences) + ". "
                "Use another name, or resume=False to start it over as a new version."
            )
        return existing, True
    version = existing.version + 1 if existing is not None else 1
    values = {**proposed.__dict__, "version": version, "created": time.time()}
    del values["id"]
    with store.writer() as conn:
        insert = schema.studies.insert().values(**{**values, "mode": proposed.mode.value})
        study_id = conn.execute(insert).inserted_primary_key[0]
    return Study(**{**values, "id": study_id}), False


def insert_trial(conn: sa.Connection, study: Study, record: TrialRecord) -> None:
    conn.execute(
        schema.trials.insert(),
        {
            "study_id": study.id,
            "number": record.number,
            "run_id": record.run_id,
            "state": TrialState.RUNNING.value,
            "params": json.dumps(record.params),
            "distributions": json.dumps(record.distributions),
            "started": record.started,
        },
    )


_UPDATE = (
    schema.trials.update()
    .where(
        (schema.trials.c.study_id == sa.bindparam("study"))
        & (schema.trials.c.number == sa.bindparam("n"))
    )
    .values(state=sa.bindparam("to"), value=sa.bindparam("v"), ended=sa.bindparam("at"))
)


def update_trial(conn: sa.Connection, study: Study, record: TrialRecord) -> None:
    conn.execute(
        _UPDATE,
        {"study": study.id, "n": record.number, "to": record.state.value, "v": record.value,
         "at": record.ended},
    )  # fmt: skip


def mark_crashed(store: Store, study: Study) -> int:
    """Trials left `running` by a tuner that died; returns how many."""
    table = schema.trials
    with store.writer() as conn:
        return conn.execute(
            table.update()
            .where((table.c.study_id == study.id) & (table.c.state == TrialState.RUNNING.value))
            .values(state=TrialState.CRASHED.value)
        ).rowcount


def load_trials(store: Store, study: Study, curves: bool = False) -> list[TrialRecord]:
    """The study's trials by number; with `curves`, each with the values it reported."""
    table = schema.trials
    with store.reader() as conn:
        rows = conn.execute(
            sa.select(table).where(table.c.study_id == study.id).order_by(table.c.number)
        ).all()
        records = [
            TrialRecord(
                number=row.number,
                state=TrialState(row.state),
                value=row.value,
                params=json.loads(row.params),
                distributions=json.loads(row.distributions),
                run_id=row.run_id,
                started=row.started,
                ended=row.ended,
            )
            for row in rows
        ]
        if curves and records:
            by_run = {record.run_id: record for record in records}
            metrics = schema.metrics
            points = conn.execute(
                sa.select(metrics.c.run_id, metrics.c.step, metrics.c.value).where(
                    metrics.c.run_id.in_(list(by_run)) & (metrics.c.key == study.metric)
                )
            )
            for run_id, step, value in points:
                by_run[run_id].curve[step] = float("nan") if value is None else value
    return records
