"""The UI's reads with 10,000 runs x 20 params x 10 metrics, on SQLite and PostgreSQL: the
runs table's first page (JSON and HTML), sorted by a metric, filtered by a param and a
metric; a metric of 1,000,000 points as its chart gets it; the compare view's data for
1,000 runs (their params, and their curves: of 5 steps, and of 1,000 steps). Against
MLflow on the same data (SQLite): `mlflow.search_runs` for the page, with the same order
and filter, `MlflowClient.search_runs` of the runs by id, and
`MlflowClient.get_metric_history` for the long metric and for each compared run.

cairn is measured as `cairn ui` serves it: `cairn.ui.create_app` under uvicorn, one process
per backend, asked by httpx over loopback on a kept-alive connection. Server time runs from
the request's arrival to the start of the response (the body is rendered by then); the
benchmark's ASGI wrapper sends it in a Server-Timing header. The client's round trip is
shown beside it. MLflow is called in the benchmark's process, as a script would.

The data: runs named run-00000 ... one a minute apart, 20 params (floats, ints, a choice
of three optimizers, and p1 one of 0.25 and 0.75 so that `params.p1 > 0.5` has an exact
MLflow equivalent, `params.p1 = '0.75'`), 10 metrics of 5 steps each; 1,000 more runs in
an experiment of their own with 1,000 steps of `loss`; one run, in a third, with 1,000,000
points of `loss`. The same values go to both tools; the answers are checked to agree.
cairn is filled in bulk through its own paths: the long run through the public API
(`cairn.start_run`, `run.log`), whose row lends the others its code and environment
records, host and user; the other runs' rows in batches of 1,000 a transaction, their
params from cairn's `param_rows`, their metrics through `Run.log` and the background metric
writer. MLflow is filled through `MlflowClient` (create_run, log_batch of up to 1,000
params and metrics, set_terminated): 0.1 to 0.5 s a run, half an hour or more for all. The
2,000,000 points of the long histories (0.3 to 0.6 s per 1,000 through log_batch) go in
faster: its client logs their first step, and the others go into its metrics table in bulk,
as its log_batch writes them (latest_metrics moved to the last step). Both are filled on
/dev/shm and copied to /tmp/bench_ui/ (a directory per sizes and schema, kept between runs:
delete it to fill again); PostgreSQL is filled anew in a scratch database, dropped at the
end.
The operations alternate round by round (the contenders' order rotates); the table has the
medians over the rounds and the spread (the slowest round over the fastest).
Run: python benchmarks/bench_ui.py [--rounds 5] [--quick] [--postgres URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _report import report
from bench_metrics import scratch_database
from bench_serve import free_port, stop

CACHE = Path("/tmp/bench_ui")
BUILD = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
DATA_VERSION = 3  # bump when the generated data changes: cached stores are then rebuilt
EXPERIMENT, CURVES_EXPERIMENT, LONG_EXPERIMENT = "bench", "curves", "long"
LONG_KEY, CURVE_KEY = "loss", "m0"
EPOCH = 1_767_225_600.0  # 2026-01-01 UTC: the first run's start
OPTIMIZERS = ("adam", "sgd", "rmsprop")
P1_GRID = (0.25, 0.75)  # a dropout of two levels: see MLFLOW_FILTER
SORT = "metrics.m3 desc"
FILTER = "params.p1 > 0.5 and metrics.m2 < 0.3"
MLFLOW_SORT = "metrics.m3 DESC"
# MLflow compares params as text with = != LIKE only, and has no OR or IN for them: on
# p1's grid this selects the same runs as FILTER.
MLFLOW_FILTER = "params.p1 = '0.75' and metrics.m2 < 0.3"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 120
MLFLOW_BATCH = 1_000  # the most params and metrics MLflow's log_batch takes in one call
# Operation: (target in ms of server time, calls per round).
OPERATIONS = {
    "page": (300, 5),
    "html": (300, 5),
    "sort": (500, 5),
    "filter": (500, 5),
    "long": (1_000, 3),
    "compare": (2_000, 3),
    "curves": (2_000, 3),
    "long_curves": (2_000, 1),
}
SYSTEMS = ("SQLite", "PostgreSQL", "MLflow")


@dataclass(frozen=True)
class Sizes:
    runs: int
    params: int
    metrics: int
    steps: int
    points: int  # of the long run's one metric
    compare: int  # runs compared
    curve_steps: int  # of each run in the long-curves experiment

    def key(self) -> str:
        from cairn.store.database import HEAD_REVISION

        return (
            f"v{DATA_VERSION}-r{self.runs}-p{self.params}-m{self.metrics}-s{self.steps}"
            f"-n{self.points}-c{self.compare}x{self.curve_steps}-schema{HEAD_REVISION}"
        )


@dataclass(frozen=True)
class Batch:
    """The runs of one experiment, as both tools get them."""

    experiment: str
    names: list[str]
    started: np.ndarray  # epoch seconds
    ended: np.ndarray
    params: list[dict[str, object]]
    keys: list[str]
    values: np.ndarray  # (runs, keys, steps)

    def history(self, i: int) -> list[dict[str, float]]:
        """Run `i`'s metrics, one dict a step."""
        return [dict(zip(self.keys, at, strict=True)) for at in self.values[i].T.tolist()]


@dataclass(frozen=True)
class Data:
    table: Batch  # the runs table's experiment
    curves: Batch  # runs with long curves of one metric, for the compare view
    long: Batch  # one run with a very long metric


def generate(sizes: Sizes) -> Data:
    rng = np.random.default_rng(0)
    n = sizes.runs
    started = EPOCH + 60.0 * np.arange(n)
    ended = started + rng.uniform(30, 600, n)
    columns: dict[str, list[object]] = {
        "p0": np.round(rng.random(n), 4).tolist(),
        "p1": [P1_GRID[i] for i in rng.integers(0, len(P1_GRID), n)],
    }
    for k in range(2, sizes.params):
        if k % 4 == 0:
            columns[f"p{k}"] = (2 ** rng.integers(0, 10, n)).tolist()
        elif k % 4 == 1:
            columns[f"p{k}"] = [OPTIMIZERS[i] for i in rng.integers(0, len(OPTIMIZERS), n)]
        else:
            columns[f"p{k}"] = np.round(10 ** rng.uniform(-5, 0, n), 6).tolist()
    table = Batch(
        EXPERIMENT,
        [f"run-{i:05d}" for i in range(n)],
        started,
        ended,
        [{k: column[i] for k, column in columns.items()} for i in range(n)],
        [f"m{k}" for k in range(sizes.metrics)],
        rng.random((n, sizes.metrics, sizes.steps)),
    )
    m, steps = sizes.compare, np.arange(sizes.curve_steps)
    rates = 10 ** rng.uniform(-4, -1, m)
    decay = np.exp(-np.outer(rates * 100, steps / max(1, sizes.curve_steps)))
    curves = Batch(
        CURVES_EXPERIMENT,
        [f"curve-{i:04d}" for i in range(m)],
        started[-1] + 60.0 * (1 + np.arange(m)),
        started[-1] + 60.0 * (1 + np.arange(m)) + 600.0,
        [{"lr": round(float(r), 6), "seed": i} for i, r in enumerate(rates)],
        [LONG_KEY],
        (decay + rng.normal(0, 0.02, decay.shape))[:, None, :],
    )
    points = np.arange(sizes.points)
    values = np.exp(-points / max(1, sizes.points / 4)) + rng.normal(0, 0.02, sizes.points)
    values[rng.integers(0, sizes.points, 20)] += 5.0  # spikes the chart must keep
    at = np.array([curves.ended[-1] + 60.0])
    long = Batch(LONG_EXPERIMENT, ["long"], at, at + 3600.0, [{}], [LONG_KEY], values[None, None])
    return Data(table, curves, long)


# ---- filling ----


def cached(kind: str, sizes: Sizes, fill: Callable[[Path], None]) -> Path:
    """The directory of the store `kind` for `sizes`: from the cache, or filled by
    `fill(directory)` on BUILD and then moved into the cache."""
    final = CACHE / sizes.key() / kind
    if final.is_dir():
        print(f"{kind}: the store cached in {final}", flush=True)
        return final
    build = Path(tempfile.mkdtemp(prefix=f"bench_ui-{kind}-", dir=BUILD))
    try:
        fill(build)
        staging = final.with_name(f"{kind}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(build, staging)
        staging.rename(final)  # the same file system: a half-copied store is never taken
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return final


def fill_cairn(store_url: str, blobs: Path, data: Data) -> None:
    import sqlalchemy as sa

    import cairn
    from cairn.store import Store, schema

    started = time.perf_counter()
    store = Store(store_url, str(blobs))
    # The long run through the public API; its row lends the others what start_run captures.
    with cairn.start_run("long", experiment=LONG_EXPERIMENT, store=store) as long_run:
        for step, value in enumerate(data.long.values[0, 0].tolist()):
            long_run.log({LONG_KEY: value}, step=step)
    runs = schema.runs
    with store.reader() as conn:
        template = dict(
            conn.execute(sa.select(runs).where(runs.c.id == long_run.id)).one()._mapping
        )
    for batch in (data.table, data.curves):
        fill_cairn_batch(store, template, batch, started)
    if store.dialect == "postgresql":
        # Autovacuum analyzes freshly loaded tables within a minute; done here so the planner's
        # statistics do not depend on when the measurement starts.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    store.engine.dispose()


def fill_cairn_batch(store, template: dict, batch: Batch, since: float) -> None:
    """The batch's runs and params 1,000 runs a transaction, their metrics through `Run.log`
    and the store's metric writer."""
    import sqlalchemy as sa
    from ulid import ULID

    from cairn.states import RunStatus
    from cairn.store import schema
    from cairn.tracking.run import Run, param_rows
    from cairn.tracking.writer import writer_for

    experiments = schema.experiments
    with store.writer() as conn:
        conn.execute(experiments.insert().values(name=batch.experiment, created=EPOCH))
        experiment_id = conn.execute(
            sa.select(experiments.c.id).where(experiments.c.name == batch.experiment)
        ).scalar_one()
    writer = writer_for(store)
    for first in range(0, len(batch.names), 1_000):
        chunk = range(first, min(first + 1_000, len(batch.names)))
        ids = {i: str(ULID.from_timestamp(float(batch.started[i]))) for i in chunk}
        rows = [
            {**template, "id": ids[i], "experiment_id": experiment_id, "name": batch.names[i],
             "status": RunStatus.FINISHED.value, "started": float(batch.started[i]),
             "ended": float(batch.ended[i]), "heartbeat": float(batch.ended[i])}
            for i in chunk
        ]  # fmt: skip
        with store.writer() as conn:
            conn.execute(schema.runs.insert(), rows)
            conn.execute(
                schema.params.insert(),
                [row for i in chunk for row in param_rows(ids[i], batch.params[i])],
            )
        for i in chunk:
            run = Run(store, ids[i], batch.names[i], batch.experiment, None, writer)
            for step, values in enumerate(batch.history(i)):
                run.log(values, step=step)
        writer.flush()
        _progress(f"cairn ({store.dialect}) {batch.experiment}", chunk[-1] + 1, batch, since)


def fill_mlflow(url: str, data: Data) -> None:
    """Each run through MlflowClient: create_run, log_batch (params and metrics, at most
    MLFLOW_BATCH a call), set_terminated. Of the long histories (the long run's and the
    curves') the client logs the first step; the other steps go into MLflow's metrics table
    in bulk, as its log_batch writes them."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    since = time.perf_counter()
    client = MlflowClient(tracking_uri=url)
    for batch in (data.table, data.curves, data.long):
        bulk = batch is not data.table
        experiment = client.create_experiment(batch.experiment)
        later: list[dict] = []
        for i, name in enumerate(batch.names):
            ms = int(batch.started[i] * 1000)
            run_id = client.create_run(experiment, start_time=ms, run_name=name).info.run_id
            history = batch.history(i)
            entities = [Param(key, str(value)) for key, value in batch.params[i].items()]
            entities += [
                Metric(key, value, ms + step, step)
                for step, values in enumerate(history[:1] if bulk else history)
                for key, value in values.items()
            ]
            for first in range(0, len(entities), MLFLOW_BATCH):
                part = entities[first : first + MLFLOW_BATCH]
                client.log_batch(
                    run_id,
                    metrics=[e for e in part if isinstance(e, Metric)],
                    params=[e for e in part if isinstance(e, Param)],
                )
            client.set_terminated(run_id, end_time=int(batch.ended[i] * 1000))
            if bulk:
                later += [
                    {"run_uuid": run_id, "key": key, "value": value, "timestamp": ms + step,
                     "step": step, "is_nan": False}
                    for step, values in enumerate(history[1:], start=1)
                    for key, value in values.items()
                ]  # fmt: skip
            if (i + 1) % 1_000 == 0 or i + 1 == len(batch.names):
                _progress(f"MLflow {batch.experiment}", i + 1, batch, since)
        if later:
            mlflow_bulk_metrics(url, later)


def mlflow_bulk_metrics(url: str, rows: list[dict]) -> None:
    """Insert metric rows into MLflow's metrics table and move latest_metrics to each run's
    last step, as MLflow's own log_batch would."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine, only=["metrics", "latest_metrics"])
    metrics, latest = meta.tables["metrics"], meta.tables["latest_metrics"]
    last: dict[tuple[str, str], dict] = {}
    for row in rows:
        last[(row["run_uuid"], row["key"])] = row  # in step order: the last one stays
    with engine.begin() as conn:
        for first in range(0, len(rows), 50_000):
            conn.execute(metrics.insert(), rows[first : first + 50_000])
        for (run_uuid, key), row in last.items():
            conn.execute(
                latest.update()
                .where(latest.c.run_uuid == run_uuid, latest.c.key == key)
                .values(value=row["value"], timestamp=row["timestamp"], step=row["step"])
            )
    engine.dispose()


def _progress(what: str, done: int, batch: Batch, since: float) -> None:
    took = time.perf_counter() - since
    print(f"{what}: {done:,}/{len(batch.names):,} runs, {took:.0f} s", flush=True)


def mlflow_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'mlflow.db'}"


# ---- the cairn UI server ----


class ServerTiming:
    """ASGI wrapper: the time from the request to the response's start, as Server-Timing."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: dict) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - start) * 1e3
                header = (b"server-timing", f"app;dur={took:.3f}".encode())
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, timed)


def serve(store_url: str, blobs: str, port: int) -> None:
    """The UI over the store, as `cairn ui` runs it, wrapped to tell its server time."""
    import uvicorn

    from cairn.store import Store
    from cairn.ui import create_app

    app = ServerTiming(create_app(Store(store_url, blobs)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


@contextlib.contextmanager
def ui_server(store_url: str, blobs: Path, log: Path) -> Iterator[str]:
    import httpx

    port = free_port()
    command = [sys.executable, __file__, "--serve", store_url, str(blobs), str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/runs", params={"per_page": 1}).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the UI did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)


# ---- the contenders ----


class CairnUI:
    """One backend's UI server, asked over HTTP; each call returns the server's seconds and
    the answer (JSON, or the page's text)."""

    def __init__(self, url: str, store_url: str, blobs: Path) -> None:
        import httpx
        import sqlalchemy as sa

        from cairn.store import Store, schema

        self.http = httpx.Client(base_url=url, timeout=600)
        store = Store(store_url, str(blobs))
        runs, experiments = schema.runs, schema.experiments
        with store.reader() as conn:
            rows = conn.execute(
                sa.select(runs.c.id, experiments.c.name)
                .join(experiments, experiments.c.id == runs.c.experiment_id)
                .order_by(runs.c.started)
            ).all()
        store.engine.dispose()
        ids: dict[str, list[str]] = {}
        for run_id, experiment in rows:
            ids.setdefault(experiment, []).append(run_id)
        self.long_id = ids[LONG_EXPERIMENT][0]
        self.compared = ",".join(ids[EXPERIMENT][: len(ids[CURVES_EXPERIMENT])])
        self.curve_runs = ",".join(ids[CURVES_EXPERIMENT])

    def get(self, path: str, **params: object) -> tuple[float, dict | str]:
        answer = self.http.get(path, params=params)
        answer.raise_for_status()
        took = float(answer.headers["server-timing"].split("dur=")[1]) / 1e3
        is_json = answer.headers["content-type"].startswith("application/json")
        return took, answer.json() if is_json else answer.text

    def page(self) -> tuple[float, dict | str]:
        return self.get("/api/runs", experiment=EXPERIMENT)

    def html(self) -> tuple[float, dict | str]:
        return self.get("/runs", experiment=EXPERIMENT)

    def sort(self) -> tuple[float, dict | str]:
        return self.get("/api/runs", experiment=EXPERIMENT, order_by=SORT)

    def filter(self) -> tuple[float, dict | str]:
        return self.get("/api/runs", experiment=EXPERIMENT, filter=FILTER)

    def long(self) -> tuple[float, dict | str]:
        return self.get(f"/api/runs/{self.long_id}/metrics/{LONG_KEY}")

    def compare(self) -> tuple[float, dict | str]:
        return self.get("/api/compare", runs=self.compared)

    def curves(self) -> tuple[float, dict | str]:
        return self.get("/api/compare/curves", runs=self.compared, metric=CURVE_KEY)

    def long_curves(self) -> tuple[float, dict | str]:
        return self.get("/api/compare/curves", runs=self.curve_runs, metric=LONG_KEY)


class MLflowAnchor:
    """The same reads through MLflow's Python API on its SQLite store; each call returns
    None (no server time: the call's is taken) and the answer."""

    def __init__(self, url: str) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(url)
        self.mlflow = mlflow
        self.client = MlflowClient(tracking_uri=url)
        self.experiment = self._experiment(EXPERIMENT)
        self.long_id = self._runs(LONG_EXPERIMENT)[0]
        self.curve_runs = self._runs(CURVES_EXPERIMENT)
        self.compared = self._runs(EXPERIMENT, len(self.curve_runs))

    def _experiment(self, name: str) -> str:
        return self.client.get_experiment_by_name(name).experiment_id

    def _runs(self, experiment: str, limit: int = 50_000) -> list[str]:
        found = self.client.search_runs(
            [self._experiment(experiment)], order_by=["attributes.start_time ASC"],
            max_results=limit,
        )  # fmt: skip
        return [r.info.run_id for r in found]

    def search(self, **options: object) -> tuple[None, object]:
        found = self.mlflow.search_runs(experiment_ids=[self.experiment], max_results=50, **options)
        return None, found

    def page(self) -> tuple[None, object]:
        return self.search()

    def sort(self) -> tuple[None, object]:
        return self.search(order_by=[MLFLOW_SORT])

    def filter(self) -> tuple[None, object]:
        return self.search(filter_string=MLFLOW_FILTER)

    def long(self) -> tuple[None, object]:
        return None, self.client.get_metric_history(self.long_id, LONG_KEY)

    def compare(self) -> tuple[None, object]:
        ids = ", ".join(f"'{r}'" for r in self.compared)
        found = self.client.search_runs(
            [self.experiment], f"attributes.run_id IN ({ids})", max_results=len(self.compared)
        )
        return None, found

    def curves(self) -> tuple[None, object]:
        return None, [self.client.get_metric_history(r, CURVE_KEY) for r in self.compared]

    def long_curves(self) -> tuple[None, object]:
        return None, [self.client.get_metric_history(r, LONG_KEY) for r in self.curve_runs]


def check(contenders: dict[str, object], sizes: Sizes) -> None:
    """The contenders find the same runs and points: a wrong answer fast is not a result.
    This calls every operation once: the measurement's warm-up."""
    for op in ("page", "sort", "filter"):
        pages = {}
        for system, contender in contenders.items():
            _, answer = getattr(contender, op)()
            if system == "MLflow":
                pages[system] = answer["tags.mlflow.runName"].tolist()
            else:
                pages[system] = [r["name"] for r in answer["runs"]]
        first = next(iter(pages.values()))
        for system, contender in contenders.items():
            if system != "MLflow" and op == "page":  # the page shows what the API gives
                assert all(name in contender.html()[1] for name in pages[system]), system
        assert len(first) == min(50, sizes.runs) or op == "filter", (op, len(first))
        assert all(p == first for p in pages.values()), (op, pages)
    expected = {
        "long": sizes.points,
        "compare": sizes.compare,
        "curves": sizes.compare * sizes.steps,
        "long_curves": sizes.compare,
    }
    answers: dict[str, list] = {}
    for system, contender in contenders.items():
        counts = MLFLOW_COUNTS if system == "MLflow" else CAIRN_COUNTS
        for op, count in counts.items():
            answer = getattr(contender, op)()[1]
            assert count(answer) == expected[op], (system, op, count(answer), expected[op])
            if system != "MLflow" and op != "compare":
                answers.setdefault(op, []).append(_series(answer))
    for op, series in answers.items():  # each backend's charts hold the same points
        assert all(s.keys() == series[0].keys() for s in series), op
        for key in series[0]:
            steps = [s[key][0] for s in series]
            values = [s[key][1] for s in series]
            assert all(v == steps[0] for v in steps), (op, key, "steps")
            assert all(np.allclose(v, values[0], equal_nan=True) for v in values), (op, key)


def _series(answer: dict) -> dict[object, tuple[list, np.ndarray]]:
    """A chart's answer as {curve: (steps, [mean, min, max] a step)}: the curves in the
    order of their runs (whose ids differ from one store to another)."""
    if "runs" not in answer:
        return {0: (answer["step"], np.array([answer[k] for k in ("value", "min", "max")]))}
    return {
        i: (answer["step"], np.array([curve[k] for k in ("value", "min", "max")], dtype=float))
        for i, curve in enumerate(answer["runs"].values())
    }


def _points(curves: dict) -> int:
    return sum(sum(v == v for v in run["value"]) for run in curves["runs"].values())


# How many points, runs or curves an answer holds.
CAIRN_COUNTS = {
    "long": lambda answer: answer["count"],
    "compare": lambda answer: len(answer["runs"]),
    "curves": _points,
    "long_curves": lambda answer: len(answer["runs"]),
}
MLFLOW_COUNTS = {
    "long": len,
    "compare": len,
    "curves": lambda answer: sum(map(len, answer)),
    "long_curves": len,
}


def measure(
    contenders: dict[str, object], rounds: int, loads: list[float]
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """{(system, op): [(server s, round trip s) of each round]}, each the median of the
    round's calls; the contenders' order rotates by one place a round. The machine's load
    average is added to `loads` after each round: these are shared machines."""
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    systems = list(contenders)
    for r in range(rounds):
        order = systems[r % len(systems) :] + systems[: r % len(systems)]
        for op, (_, calls) in OPERATIONS.items():
            for system in order:
                call = getattr(contenders[system], op, None)
                if call is None:
                    continue
                # MLflow reads every point of the long metric: once a round is enough
                repeat = 1 if system == "MLflow" and "long" in op else calls
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    server, _ = call()
                    wall = time.perf_counter() - start
                    times.append((wall if server is None else server, wall))
                sample = (
                    statistics.median(t[0] for t in times),
                    statistics.median(t[1] for t in times),
                )
                samples.setdefault((system, op), []).append(sample)
                print(f"round {r + 1}/{rounds}: {system} {op}: {_ms(sample[0])} ms", flush=True)
        loads.append(os.getloadavg()[0])
    return samples


# ---- the table ----


def labels(sizes: Sizes) -> dict[str, str]:
    return {
        "page": "first page",
        "html": "page, HTML",
        "sort": "sort",
        "filter": "filter",
        "long": f"{_count(sizes.points)} points",
        "compare": "compare",
        "curves": f"curves x{sizes.steps}",
        "long_curves": f"curves x{_count(sizes.curve_steps)}",
    }


def write(samples: dict, sizes: Sizes, rounds: int, curve_points: int, loads: list[float]) -> None:
    def median(system: str, op: str, which: int = 0) -> float:
        return statistics.median(s[which] for s in samples[(system, op)])

    def met(system: str, op: str) -> bool:
        return median(system, op) * 1e3 < OPERATIONS[op][0]

    rows = []
    for op, label in labels(sizes).items():
        target = OPERATIONS[op][0]
        for system in SYSTEMS:
            if (system, op) not in samples:
                continue
            server = [s[0] for s in samples[(system, op)]]
            cairn = system != "MLflow"
            ratio = cairn and system == "SQLite" and ("MLflow", op) in samples
            rows.append([
                label if system == SYSTEMS[0] else "",
                "PG" if system == "PostgreSQL" else system,
                _ms(median(system, op)),
                f"{max(server) / min(server):.2f}",
                _ms(median(system, op, 1)) if cairn else "",
                f"{target:,} {'yes' if met(system, op) else 'NO'}" if cairn else "",
                f"{median(system, op) / median('MLflow', op):.3f}" if ratio else "",
            ])  # fmt: skip
    verdicts = {
        system: sum(met(system, op) for op in OPERATIONS if (system, op) in samples)
        for system in SYSTEMS[:2]
        if any((system, op) in samples for op in OPERATIONS)
    }
    report(
        "ui",
        f"The UI with {sizes.runs:,} runs x {sizes.params} params x {sizes.metrics} metrics, "
        f"{rounds} alternating round{'s' * (rounds > 1)}",
        ["operation", "by", "ms", "spread", "trip ms", "target", "/MLflow"],
        rows,
        notes(sizes, verdicts, curve_points, loads),
    )


def notes(sizes: Sizes, verdicts: dict[str, int], curve_points: int, loads: list[float]) -> str:
    met = "; ".join(f"{system} {n} of {len(OPERATIONS)}" for system, n in verdicts.items())
    n = f"{sizes.compare:,}"
    return "\n".join([
        f"Data: {sizes.runs:,} finished runs in one experiment, {sizes.params} params and "
        f"{sizes.metrics} metrics of {sizes.steps} steps each; {n} more runs in another with "
        f"{sizes.curve_steps:,} steps of one metric; one run with {sizes.points:,} points of "
        "one metric. cairn (SQLite, PG = PostgreSQL): `cairn.ui.create_app` under uvicorn, a "
        "process per backend, asked by httpx over loopback; ms = server time (the request's "
        "arrival to the response's start, sent in a Server-Timing header), trip ms = the "
        f"client's round trip. MLflow {_mlflow_version()}: its Python API on its SQLite store, "
        "in the benchmark's process; ms = the call.",
        f"Rows, cairn | MLflow: first page = GET /api/runs?experiment={EXPERIMENT} (50 runs, "
        "the total, last/min/max of 8 metrics) | mlflow.search_runs(max_results=50); page, "
        f"HTML = GET /runs?experiment={EXPERIMENT}; sort = &order_by={SORT} | "
        f"order_by=['{MLFLOW_SORT}']; filter = &filter={FILTER} | "
        f'filter_string="{MLFLOW_FILTER}" '

        "(p1 is 0.25 or 0.75: the same runs); points = GET /api/runs/ID/metrics/"
        f"{LONG_KEY} (2,000 buckets of mean, min, max) | get_metric_history (every point); "
        f"compare = GET /api/compare?runs=<{n} ids> (their params side by side) | "
        f"search_runs(\"attributes.run_id IN (<{n} ids>)\"); curves xN = {n} runs' curves of "
        f"N steps: GET /api/compare/curves?runs=<{n} ids>&metric=KEY (at most "
        f"{curve_points:,} points a run) | "
        "get_metric_history of each run. The first pages, sorted and filtered, name the same "
        "runs in all three; the points, runs and curves were counted.",
        "/MLflow = cairn's median / MLflow's, both on SQLite (below 1: cairn is faster). "
        "Medians over the rounds, after a first call of each (checking the answers); "
        f"spread = slowest round / fastest. The machine's 1-minute load average after each round: "
        f"{', '.join(f'{x:.1f}' for x in loads)} ({os.cpu_count()} cores). Targets in ms of "
        "server time (the issue's: first page 300, sort or filter 500, a chart of 1,000,000 "
        f"points 1,000, the compare view's data for 1,000 runs 2,000): met on {met}.",
    ])  # fmt: skip


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n:,}"


def _mlflow_version() -> str:
    import mlflow

    return mlflow.__version__


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:,.2f}" if ms < 10 else f"{ms:,.1f}" if ms < 1_000 else f"{ms:,.0f}"


# ---- main ----


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=20)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--compare", type=int, default=1_000)
    parser.add_argument("--curve-steps", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="1,000 runs, 100,000 points, 100 compared, 2 rounds"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CAIRN_BENCH_PG", PG_DEFAULT),
        help="admin URL of the PostgreSQL server (a scratch database is made and dropped); "
        "'' leaves PostgreSQL out",
    )
    parser.add_argument(
        "--serve", nargs=3, metavar=("STORE", "BLOBS", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    if args.quick:
        args.runs, args.points, args.compare, args.rounds = 1_000, 100_000, 100, 2
    sizes = Sizes(
        args.runs, args.params, args.metrics, args.steps, args.points, args.compare,
        args.curve_steps,
    )  # fmt: skip
    data = generate(sizes)
    mlflow_dir = cached("mlflow", sizes, lambda d: fill_mlflow(mlflow_url(d), data))
    sqlite_dir = cached(
        "cairn", sizes, lambda d: fill_cairn(f"sqlite:///{d / 'cairn.db'}", d / "blobs", data)
    )
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ui-")))
        backends = {"SQLite": (f"sqlite:///{sqlite_dir / 'cairn.db'}", sqlite_dir / "blobs")}
        if args.postgres:
            pg_url = stack.enter_context(scratch_database(args.postgres))
            started = time.perf_counter()
            fill_cairn(pg_url, work / "blobs", data)
            print(f"PostgreSQL filled in {time.perf_counter() - started:.0f} s", flush=True)
            backends["PostgreSQL"] = (pg_url, work / "blobs")
        contenders: dict[str, object] = {}
        for system, (store_url, blobs) in backends.items():
            url = stack.enter_context(ui_server(store_url, blobs, work / f"{system}.log"))
            contenders[system] = CairnUI(url, store_url, blobs)
        contenders["MLflow"] = MLflowAnchor(mlflow_url(mlflow_dir))
        check(contenders, sizes)
        curve_points = contenders["SQLite"].long_curves()[1]["max_points"]
        loads: list[float] = []
        samples = measure(contenders, args.rounds, loads)
        write(samples, sizes, args.rounds, curve_points, loads)


if __name__ == "__main__":
    main()
