"""Starting a run: the row, the captured code and environment, the parent link."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import sqlalchemy as sa
from ulid import ULID

from cairn.errors import NotFoundError
from cairn.store import Store, get_store, schema
from cairn.tracking import active
from cairn.tracking.capture import (
    capture_code,
    capture_environment,
    process_identity,
    to_json_bytes,
)
from cairn.tracking.output import OutputCapture
from cairn.tracking.run import RUNNING, Run
from cairn.tracking.validation import check_name
from cairn.tracking.writer import writer_for

DEFAULT_EXPERIMENT = "default"
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
) -> Run:
    """Open a run. Use it as a context manager, or call `run.end()` yourself.

    A run started while another is open in this thread becomes its child unless `parent`
    says otherwise; a child inherits its parent's experiment. `capture=False` records the
    parent's code and environment instead of capturing them again (cheap children of one
    process, such as tuning trials); `activate=False` leaves this thread's active run as it
    is (for a run whose work happens elsewhere, e.g. on a worker).
    """
    check_name(name, "run name")
    parent_run = active.current() if parent is None else parent
    parent_id = parent_run.id if isinstance(parent_run, Run) else parent_run
    store = store or (parent_run.store if isinstance(parent_run, Run) else get_store())
    if experiment is None:
        experiment = parent_run.experiment if isinstance(parent_run, Run) else DEFAULT_EXPERIMENT
    check_name(experiment, "experiment name")

    if capture or parent_id is None:
        code = capture_code()
        code_ref = _put_json(store, code) if code else None
        env_ref = _put_json(store, capture_environment())
    else:
        code_ref, env_ref = _captured_by(store, parent_id)
    run_id = str(ULID())
    now = time.time()
    with store.writer() as conn:
        if parent_id is not None and not _exists(conn, parent_id):
            raise NotFoundError(f"parent run {parent_id} does not exist")
        conn.execute(
            schema.runs.insert().values(
                id=run_id,
                experiment_id=_experiment_id(conn, experiment),
                parent_id=parent_id,
                name=name,
                status=RUNNING,
                started=now,
                heartbeat=now,
                code_ref=code_ref,
                env_ref=env_ref,
                **process_identity(),
            )
        )
    writer = writer_for(store)
    run = Run(store, run_id, name, experiment, parent_id, writer)
    writer.add_live_run(run_id)
    (active.push if activate else active.track)(run)
    if params:
        run.log_params(params)
    reproduces = os.environ.get(REPRODUCES_ENV)
    if reproduces and parent_id is None:  # set by `cairn runs reproduce` for the re-run
        tags = {**(tags or {}), "cairn.reproduces": reproduces}
    if tags:
        run.set_tags(tags)
    if capture_output:
        run._output_capture = OutputCapture.start()
    return run


def _put_json(store: Store, value: dict) -> str:
    data = to_json_bytes(value)
    digest = store.blobs.put(data)
    store.record_blob(digest, len(data), "json", {})
    return digest


def _captured_by(store: Store, run_id: str) -> tuple[str | None, str | None]:
    table = schema.runs
    with store.reader() as conn:
        row = conn.execute(
            sa.select(table.c.code_ref, table.c.env_ref).where(table.c.id == run_id)
        ).first()
    if row is None:
        raise NotFoundError(f"parent run {run_id} does not exist")
    return row.code_ref, row.env_ref


def _exists(conn: sa.Connection, run_id: str) -> bool:
    return (
        conn.execute(sa.select(schema.runs.c.id).where(schema.runs.c.id == run_id)).first()
        is not None
    )


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
