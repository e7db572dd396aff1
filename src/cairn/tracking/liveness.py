"""Whether a run marked running still has a process: the rule, derived when reading.

A run is `crashed` when its row says `running` but its process is gone: on this host, the
pid is dead, a zombie, or now belongs to a process started at another time; for a run of
another host (or without a pid), its heartbeat is older than the timeout. Readers apply the
rule in SQL and write nothing; only `reap`, called when a writer starts a run and by
`cairn gc`, stores the verdict, with `ended` set to the run's last heartbeat.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import psutil
import sqlalchemy as sa

from cairn.states import RunStatus
from cairn.store import schema
from cairn.tracking.writer import HEARTBEAT_INTERVAL_S

DEFAULT_HEARTBEAT_TIMEOUT_S = 6 * HEARTBEAT_INTERVAL_S
# A process's start time read twice can differ by rounding; a reused pid differs by far more.
_START_TIME_TOLERANCE_S = 1.0
# (pid, start time) of processes found gone: they never come back, so each is checked once.
_gone: set[tuple[int, float | None]] = set()
_GONE_LIMIT = 100_000


def heartbeat_timeout() -> float:
    """Seconds without a heartbeat after which another host's run counts as crashed."""
    return float(os.environ.get("CAIRN_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT_TIMEOUT_S))


@dataclass(frozen=True)
class Liveness:
    """Which running runs have lost their process, as observed at one moment.

    `dead_here` lists this host's running runs whose process was checked and found gone; a
    run started after the observation is not in it, so it is never taken for dead."""

    host: str
    stale_before: float  # heartbeats older than this are stale
    dead_here: frozenset[str]

    def crashed(self) -> sa.ColumnElement[bool]:
        """True for the runs whose status reads `crashed` although the row says running."""
        runs = schema.runs
        checked_by_pid = sa.and_(runs.c.host == self.host, runs.c.pid.is_not(None))
        return sa.and_(
            runs.c.status == RunStatus.RUNNING.value,
            sa.or_(
                runs.c.id.in_(sorted(self.dead_here)),
                sa.and_(
                    sa.or_(runs.c.host.is_(None), sa.not_(checked_by_pid)),
                    sa.or_(runs.c.heartbeat.is_(None), runs.c.heartbeat < self.stale_before),
                ),
            ),
        )

    def status(self) -> sa.ColumnElement[str]:
        """The runs' status with the rule applied."""
        return sa.case((self.crashed(), RunStatus.CRASHED.value), else_=schema.runs.c.status)

    def ended(self) -> sa.ColumnElement[float]:
        """When the runs ended; a crashed run ended at its last heartbeat."""
        return sa.case((self.crashed(), _last_sign_of_life()), else_=schema.runs.c.ended)


def observe(conn: sa.Connection, *among: sa.ColumnElement[bool]) -> Liveness:
    """Check the processes of this host's running runs (those matching the conditions
    `among` on `runs`, if given). Reads only."""
    runs, host = schema.runs, socket.gethostname()
    stale_before = time.time() - heartbeat_timeout()
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.pid, runs.c.pid_started).where(
            runs.c.status == RunStatus.RUNNING.value,
            runs.c.host == host,
            runs.c.pid.is_not(None),
            *among,
        )
    )
    dead = frozenset(r.id for r in rows if not _process_alive(r.pid, r.pid_started))
    return Liveness(host, stale_before, dead)


def dead(conn: sa.Connection) -> list[str]:
    """The ids of the running runs whose process is gone, as `reap` would find them."""
    crashed = observe(conn).crashed()
    return list(conn.execute(sa.select(schema.runs.c.id).where(crashed)).scalars())


def reap(conn: sa.Connection) -> list[str]:
    """Store `crashed` for the running runs whose process is gone, inside the caller's
    transaction; returns their ids."""
    runs = schema.runs
    crashed = observe(conn).crashed()
    return list(
        conn.execute(
            runs.update()
            .where(crashed)
            .values(status=RunStatus.CRASHED.value, ended=_last_sign_of_life())
            .returning(runs.c.id)
        ).scalars()
    )


def _last_sign_of_life() -> sa.ColumnElement[float]:
    return sa.func.coalesce(schema.runs.c.heartbeat, schema.runs.c.started)


def _process_alive(pid: int, started: float | None) -> bool:
    if (pid, started) in _gone:
        return False
    try:
        process = psutil.Process(pid)
        # A zombie was killed and not yet waited for; a pid started at another time was reused.
        alive = process.status() != psutil.STATUS_ZOMBIE and (
            abs(process.create_time() - (started or 0.0)) <= _START_TIME_TOLERANCE_S
        )
    except psutil.NoSuchProcess:
        alive = False
    except psutil.AccessDenied:  # another user's process exists; it cannot be told apart
        return True
    if not alive:
        if len(_gone) >= _GONE_LIMIT:
            _gone.clear()
        _gone.add((pid, started))
    return alive
