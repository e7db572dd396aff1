"""Studies at a glance: each one's trial count by state and its best value, read in one
grouped query, for a list of studies that must not load every trial of every study."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from cairn.states import Direction, TrialState
from cairn.store import Store, schema
from cairn.tuning.studies import Study


@dataclass(frozen=True)
class StudySummary:
    study: Study
    states: dict[TrialState, int] = field(default_factory=dict)
    best: float | None = None  # the best value of a completed trial, by the study's mode

    @property
    def trials(self) -> int:
        return sum(self.states.values())

    @property
    def running(self) -> bool:
        return self.states.get(TrialState.RUNNING, 0) > 0


def summarize(store: Store, studies: Sequence[Study]) -> list[StudySummary]:
    """A summary of each of `studies`, in their order."""
    if not studies:
        return []
    table = schema.trials
    completed = table.c.state == TrialState.COMPLETED.value
    query = (
        sa.select(
            table.c.study_id,
            table.c.state,
            sa.func.count().label("n"),
            sa.func.min(sa.case((completed, table.c.value))).label("low"),
            sa.func.max(sa.case((completed, table.c.value))).label("high"),
        )
        .where(table.c.study_id.in_([s.id for s in studies]))
        .group_by(table.c.study_id, table.c.state)
    )
    states: dict[int, dict[TrialState, int]] = {}
    ranges: dict[int, tuple[float, float]] = {}
    with store.reader() as conn:
        for row in conn.execute(query):
            states.setdefault(row.study_id, {})[TrialState(row.state)] = row.n
            if row.low is not None:
                ranges[row.study_id] = (row.low, row.high)
    return [
        StudySummary(
            s,
            states.get(s.id, {}),
            None if s.id not in ranges else ranges[s.id][s.mode is Direction.MAX],
        )
        for s in studies
    ]
