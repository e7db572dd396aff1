"""Starting a run: the row, the captured code and environment, the parent link."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext

import sqlalchemy as sa
from ulid import ULID

from cairn.errors import InvalidValueError, NotFoundError
from cairn.states import RunStatus
from cairn.store import Store, get_store, schema
from cairn.tracking import active, liveness, query
from cairn.tracking.capture import (
    capture_code_record,
    capture_environment,
    process_identity,
)
from cairn.tracking.run import Run, param_rows, tag_rows
from cairn.tracking.validation import check_name
from cairn.tracking.writer import writer_for

DEFAULT_EXPERIMENT = "default"
_reaped: weakref.WeakSet[Store] = weakref.WeakSet()  # stores this process has reaped
REPRODUCES_ENV = "CAIRN_REPRODUCES"


def start_run(
    name: str = "run",
    *,
    experiment: str | None = None,
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent: Run | str | None = None,
    capture_output: bool = False,
    store: Store | None = None,
    capture: bool = True,
    activate: bool = True,
    conn: sa.Connection | None = None,
) -> Run:
    """Open a run. Use it as a context manager, or call `run.end()` yourself.

    A run started while another is open in this thread becomes its child unless `parent`
    says otherwise; a child inherits its parent's experiment. `capture=False` records the
    parent's code and environment instead of capturing them again (cheap children of one
    process, such as tuning trials); `activate=False` leaves this thread's active run as it
    is (for a run whose work happens elsewhere, e.g. on a worker). With `conn`, the run is
    written inside the caller's open transaction, so the caller can record more in the same
    commit (a tuning trial's row); the run exists for others once the caller commits. Such
    a run takes its parent's code and environment records (`capture=False`): capturing
    writes blobs, which the caller's open transaction would shut out on SQLite.
    """
    check_name(name, "run name")
    parent_run = active.current() if parent is None else parent
    if parent is None and store is not None and getattr(parent_run, "store", store) is not store:
        parent_run = None  # the open run lives in another store: it cannot be the parent
    parent_id = parent_run.id if isinstance(parent_run, Run) else parent_run
    if conn is not None and (capture or parent_id is None):
        raise InvalidValueError(
            "a run started inside the caller's transaction (conn=) needs a parent and "
            "capture=False: it takes its parent's code and environment records"
        )
    store = store or (parent_run.store if isinstance(parent_run, Run) else get_store())
    inherits_experiment = experiment is None and parent_id is not None
    if experiment is None:
        experiment = parent_run.experiment if isinstance(parent_run, Run) else DEFAULT_EXPERIMENT
    check_name(experiment, "experiment name")

    run_id = str(ULID())
    reproduces = os.environ.get(REPRODUCES_ENV)
    if reproduces and parent_id is None:  # set by `cairn runs reproduce` for the re-run
        tags = {**(tags or {}), "cairn.reproduces": reproduces}
    params_rows = param_rows(run_id, params or {})  # checked before anything is written
    tags_rows = tag_rows(run_id, tags or {})  # checked before anything is written
    refs = None
    if capture or parent_id is None:
        refs = (capture_code_record(store), store.put_value(capture_environment(), codec="json"))
    # The run, its params and tags in one transaction: a run is never seen half-made.
    with nullcontext(conn) if conn is not None else store.writer() as tx:
        reaps = store not in _reaped  # a writer's start persists the crashes reads derive
        if reaps:
            liveness.reap(tx)
        if parent_id is not None:
            parent_row = _parent_row(tx, parent_id)
            if not capture:
                refs = (parent_row.code_ref, parent_row.env_ref)
        if inherits_experiment:
            experiment_id = parent_row.experiment_id
            if not isinstance(parent_run, Run):  # only its id was given
                experiment = _experiment_name(tx, experiment_id)
        else:
            experiment_id = _experiment_id(tx, experiment)
        now = time.time()
        tx.execute(
            schema.runs.insert(),
            {
                "id": run_id,
                "experiment_id": experiment_id,
                "parent_id": parent_id,
                "name": name,
                "status": RunStatus.RUNNING.value,
                "started": now,
                "heartbeat": now,
                "code_ref": refs[0],
                "env_ref": refs[1],
                **process_identity(),
            },
        )
        if params_rows:
            tx.execute(schema.params.insert(), params_rows)
        if tags_rows:
            tx.execute(schema.tags.insert(), tags_rows)
    if reaps and conn is None:  # committed; a caller's transaction may still roll back
        _reaped.add(store)
    writer = writer_for(store)
    run = Run(store, run_id, name, experiment, parent_id, writer)
    writer.add_live_run(run_id)
    (active.push if activate else active.track)(run)
    if capture_output:
        run.capture_output()
    return run


def resume_run(
    run_id: str, *, tags: Mapping[str, object] | None = None, store: Store | None = None
) -> Run:
    """Reopen run `run_id`, ended or not, as this process's active run (MLflow's
    `start_run(run_id=...)`): running again, seen alive through this process, and each
    metric logged without a step going on after the last step it has."""
    store = store or get_store()
    runs, latest = schema.runs, schema.latest_metrics
    tags_rows = tag_rows(run_id, tags or {})  # checked before anything is written
    # This process's identity, so readers see the run alive; its user and command stay.
    identity = {k: v for k, v in process_identity().items() if k in ("host", "pid", "pid_started")}
    record = query.get_run(run_id, store=store)  # an unambiguous prefix will do
    run_id = record.id
    with store.writer() as tx:
        tx.execute(
            runs.update()
            .where(runs.c.id == run_id)
            .values(
                status=RunStatus.RUNNING.value,
                ended=None,
                error=None,
                heartbeat=time.time(),
                **identity,
            )
        )
        last_steps = dict(
            tx.execute(
                sa.select(latest.c.key, latest.c.step).where(latest.c.run_id == run_id)
            ).all()
        )
    writer = writer_for(store)
    run = Run(store, run_id, record.name, record.experiment, record.parent_id, writer, last_steps)
    writer.add_live_run(run_id)
    active.push(run)
    if tags_rows:
        run.set_tags(tags)
    return run


@contextmanager
def attach_run(
    store: Store, run_id: str, name: str, experiment: str, parent_id: str | None
) -> Iterator[Run]:
    """`with attach_run(...) as run:` makes the run `run_id`, which another process or
    thread started and will end, this context's active run while the block runs: a task
    logs into its caller's run this way. Its metrics are durable when the block ends; the
    run itself stays open for its owner."""
    writer = writer_for(store)
    run = Run(store, run_id, name, experiment, parent_id, writer)
    active.push(run)
    try:
        yield run
    finally:
        active.forget(run)
        writer.flush()


_PARENT = sa.select(
    schema.runs.c.experiment_id, schema.runs.c.code_ref, schema.runs.c.env_ref
).where(schema.runs.c.id == sa.bindparam("run_id"))


def _parent_row(conn: sa.Connection, run_id: str) -> sa.Row:
    """What a child takes from its parent: its experiment, code and environment."""
    row = conn.execute(_PARENT, {"run_id": run_id}).first()
    if row is None:
        raise NotFoundError(f"parent run {run_id} does not exist")
    return row


def _experiment_name(conn: sa.Connection, experiment_id: int) -> str:
    table = schema.experiments
    return conn.execute(sa.select(table.c.name).where(table.c.id == experiment_id)).scalar_one()


def _experiment_id(conn: sa.Connection, name: str) -> int:
    table = schema.experiments
    found = conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar()
    if found is not None:
        return found
    from cairn.store.database import dialect_insert

    conn.execute(
        dialect_insert(conn, table).values(name=name, created=time.time()).on_conflict_do_nothing()
    )
    return conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar_one()
