"""MLflow's own search-filter test cases, run through cairn's search_runs with the results
MLflow's tests expect, on SQLite and PostgreSQL.

Each group names the MLflow test it is ported from: tests/utils/test_search_utils.py (the
parser and the in-memory filter) or tests/store/tracking/test_sqlalchemy_store.py (the SQL
store). The runs are built as those tests build them; MLflow logs params as text, so params
here are strings too unless a case is about typed params. Where cairn answers differently on
purpose, a comment says so; MLflow's run ids are lower-case hex and cairn's are upper-case
ULIDs, so the cases about the case of an id are mirrored.
"""

from __future__ import annotations

import math

import pytest

import cairn
from cairn.datasets.versions import KINDS
from cairn.states import RunStatus
from cairn.store import get_store, schema
from cairn.tracking.filter import ARTIFACT_URI_PREFIX, DATASET_KINDS

DATABASES = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _make(
    name: str,
    *,
    experiment: str = "mlflow",
    params: dict | None = None,
    tags: dict | None = None,
    metrics: tuple[tuple[str, float], ...] = (),
    datasets: tuple[str, ...] = (),
    status: RunStatus = RunStatus.FINISHED,
) -> str:
    """A run as MLflow's test makes it. `metrics` are (key, value) in the order of their
    MLflow timestamps, all at one step, so the last of a key is its latest, as in MLflow;
    `datasets` are the dataset names the run loads (uses)."""
    with cairn.start_run(name, experiment=experiment, params=params, tags=tags) as run:
        for key, value in metrics:
            run.log({key: value}, step=0)
        for dataset in datasets:
            cairn.datasets.load(dataset)
        run.end(status)
    return run.id


def _set(run_id: str, **values: object) -> None:
    """Give a run the times or user an MLflow test gives its run (cairn sets them itself)."""
    with get_store().writer() as conn:
        conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(**values))


def _found(filter: str, experiment: str | None = None) -> set[str]:
    return {r.id for r in cairn.search_runs(experiment, filter)}


def _ordered(order_by: list[str] | None, experiment: str | None = None) -> list[str]:
    return [r.name for r in cairn.search_runs(experiment, order_by=order_by)]


def _check(cases: list[tuple[str, set[str]]], experiment: str | None = None) -> None:
    """Every filter finds exactly its runs; all the wrong answers reported at once."""
    wrong = {}
    for filter, expected in cases:
        got = _found(filter, experiment)
        if got != expected:
            wrong[filter] = (sorted(got), sorted(expected))
    assert not wrong, f"filter: (found, expected) {wrong}"


def _check_orders(cases: list[tuple[list[str] | None, list[str]]]) -> None:
    """Every order_by lists the runs (by name) in exactly this order."""
    wrong = {}
    for order_by, expected in cases:
        got = _ordered(order_by)
        if got != expected:
            wrong[str(order_by)] = (got, expected)
    assert not wrong, f"order_by: (got, expected) {wrong}"


def _check_errors(cases: list[tuple[str, str]], *, order: bool = False) -> None:
    """Every filter (or order_by) is a FilterSyntaxError whose message says `says`."""
    wrong = {}
    for text, says in cases:
        try:
            cairn.search_runs(**({"order_by": text} if order else {"filter": text}))
        except cairn.FilterSyntaxError as exc:
            if says not in str(exc):
                wrong[text] = str(exc)
        else:
            wrong[text] = "no error"
    assert not wrong, f"text: message {wrong}"


@DATABASES
def test_the_filters_mlflows_parser_accepts(backend: str) -> None:
    # test_search_utils.py: test_filter and test_correct_quote_trimming, each filter run
    # against one run that has what it asks for and one that has nothing.
    hit = _make(
        "hit",
        params={
            "m": "LR",
            "cat dog": "pets",
            "model": "LinearRegression",
            "model_class": "LR",
            "p.a.r.a.m": "b",
            "lr": "0.01",
        },
        tags={"version": "commit-hash", "source_name": "a notebook", "t.a.g": "a"},
        metrics=(
            ("acc", 100.0),
            ("legit name", 0.5),
            ("XYZ", 3.0),
            ("X-Y-Z", 3.0),
            ("rmse", 0.5),
            ("a", 0.2),
            ("accuracy.2.0", 6.0),
            ("spacey name", 6.0),
        ),
    )
    miss = _make("miss", status=RunStatus.FAILED)
    _check(
        [
            ("metric.acc >= 0.94", {hit}),
            ("metric.acc>=100", {hit}),
            ("params.m!='tf'", {hit}),
            ('params."m"!="tf"', {hit}),
            ('metric."legit name" >= 0.243', {hit}),
            ("metrics.XYZ = 3", {hit}),
            ('params."cat dog" = "pets"', {hit}),
            ('metrics."X-Y-Z" = 3', {hit}),
            # cairn names hold no "/", so no run has this metric; the filter still parses.
            ('metrics."X//Y#$$@&Z" = 3', set()),
            ("params.model = 'LinearRegression'", {hit}),
            ("metrics.rmse < 1 and params.model_class = 'LR'", {hit}),
            ("", {hit, miss}),
            ("`metric`.a >= 0.1", {hit}),
            ("tags.version = 'commit-hash'", {hit}),
            ("`tags`.source_name = 'a notebook'", {hit}),
            ('metrics."accuracy.2.0" > 5', {hit}),
            ("metrics.`spacey name` > 5", {hit}),
            ('params."p.a.r.a.m" != "a"', {hit}),
            ('tags."t.a.g" = "a"', {hit}),
            ("attribute.artifact_uri = '1/23/4'", set()),
            ("attribute.start_time >= 1234", {hit, miss}),
            ("run.status = 'RUNNING'", set()),
            ("dataset.name = 'my_dataset'", set()),
            ("tags.version IS NULL", {miss}),
            ("tags.version IS NOT NULL", {hit}),
            ("params.lr IS NULL", {miss}),
            ("params.lr IS NOT NULL", {hit}),
            ("tags.a IS NULL AND params.b = 'val'", set()),
            ("params.m = 'LR'", {hit}),
            ('params.m = "LR"', {hit}),
            ('params.m = "L\'Hosp"', set()),
        ]
    )


@DATABASES
def test_mlflows_in_memory_filtering(backend: str) -> None:
    # test_search_utils.py: test_correct_filtering. MLflow's dataset digests are its own short
    # hashes; cairn's are the content digests of the dataset versions.
    d1 = cairn.datasets.save("name1", {"rows": [1, 2]}).digest
    d2 = cairn.datasets.save("name2", {"rows": [3]}).digest
    r0 = _make(
        "0",
        status=RunStatus.FAILED,
        metrics=(("key1", 121.0),),
        params={"my_param": "A"},
        datasets=("name1",),
    )
    r1 = _make(
        "1",
        metrics=(("key1", 123.0),),
        params={"my_param": "A"},
        tags={"tag1": "C"},
        datasets=("name1",),
    )
    r2 = _make(
        "2",
        experiment="mlflow-1",
        status=RunStatus.FAILED,
        metrics=(("key1", 125.0),),
        params={"my_param": "B"},
        tags={"tag1": "D"},
        datasets=("name2",),
    )
    _check(
        [
            ("attributes.status = 'FAILED'", {r0, r2}),
            ("metrics.key1 = 123", {r1}),
            ("metrics.key1 != 123", {r0, r2}),
            ("metrics.key1 >= 123", {r1, r2}),
            ("params.my_param = 'A'", {r0, r1}),
            ("tags.tag1 = 'D'", {r2}),
            ("tags.tag1 != 'D'", {r1}),
            ("params.my_param = 'A' AND attributes.status = 'FAILED'", {r0}),
            ("datasets.name = 'name1'", {r0, r1}),
            ("datasets.name IN ('name1', 'name2')", {r0, r1, r2}),
            (f"datasets.digest IN ('{d1}', '{d2}')", {r0, r1, r2}),
            (f"datasets.name = 'name1' AND datasets.digest = '{d2}'", set()),
        ]
    )


@DATABASES
def test_mlflows_store_searches_params_and_tags(backend: str) -> None:
    # test_sqlalchemy_store.py: test_search_params and test_search_tags (one pair of runs
    # carries both: the keys are the same in the two tests).
    values = {
        "r1": {"generic_param": "p_val", "generic_2": "some value", "p_a": "abc"},
        "r2": {"generic_param": "p_val", "generic_2": "another value", "p_b": "ABC"},
    }
    tags = {name: {**v, "generic_tag": v["generic_param"]} for name, v in values.items()}
    r1 = _make("r1", params=values["r1"], tags=tags["r1"])
    r2 = _make("r2", params=values["r2"], tags=tags["r2"])
    _check(
        [
            ("params.generic_param = 'p_val'", {r1, r2}),
            ("params.generic_2 = 'some value'", {r1}),
            ("params.generic_2 = 'another value'", {r2}),
            ("params.generic_param = 'wrong_val'", set()),
            ("params.generic_param != 'p_val'", set()),
            ("params.generic_param != 'wrong_val'", {r1, r2}),
            ("params.generic_2 != 'wrong_val'", {r1, r2}),
            ("params.p_a = 'abc'", {r1}),
            ("params.p_a = 'ABC'", set()),
            ("params.p_a != 'ABC'", {r1}),
            ("params.p_b = 'ABC'", {r2}),
            ("params.generic_2 LIKE '%other%'", {r2}),
            ("params.generic_2 LIKE 'other%'", set()),
            ("params.generic_2 LIKE '%other'", set()),
            ("params.generic_2 LIKE 'other'", set()),
            ("params.generic_2 LIKE '%Other%'", set()),
            ("params.generic_2 ILIKE '%Other%'", {r2}),
            ("tags.generic_tag = 'p_val'", {r1, r2}),
            ("tags.generic_tag = 'P_VAL'", set()),
            ("tags.generic_tag != 'P_VAL'", {r1, r2}),
            ("tags.generic_2 = 'some value'", {r1}),
            ("tags.generic_2 = 'another value'", {r2}),
            ("tags.generic_tag = 'wrong_val'", set()),
            ("tags.generic_tag != 'p_val'", set()),
            ("tags.generic_tag != 'wrong_val'", {r1, r2}),
            ("tags.generic_2 != 'wrong_val'", {r1, r2}),
            ("tags.p_a = 'abc'", {r1}),
            ("tags.p_b = 'ABC'", {r2}),
            ("tags.generic_2 LIKE '%other%'", {r2}),
            ("tags.generic_2 LIKE '%Other%'", set()),
            ("tags.generic_2 LIKE 'other%'", set()),
            ("tags.generic_2 LIKE '%other'", set()),
            ("tags.generic_2 LIKE 'other'", set()),
            ("tags.generic_2 ILIKE '%Other%'", {r2}),
            ("tags.generic_2 ILIKE '%Other%' and tags.generic_tag = 'p_val'", {r2}),
            ("tags.generic_2 ILIKE '%Other%' and tags.generic_tag ILIKE 'p_val'", {r2}),
        ]
    )


@DATABASES
def test_mlflows_store_searches_latest_metrics(backend: str) -> None:
    # test_sqlalchemy_store.py: test_search_metrics. MLflow logs these at step 0 with the
    # timestamps 1, 2, 3, 8...; the latest value is the one with the last timestamp.
    r1 = _make("r1", metrics=(("common", 1.0), ("measure_a", 1.0), ("m_a", 2.0)))
    r2 = _make(
        "r2",
        metrics=(
            ("common", 1.0),
            ("measure_a", 200.0),
            ("measure_a", 400.0),
            ("m_b", 3.0),  # timestamp 2
            ("m_b", 8.0),  # timestamp 3
            ("m_b", 4.0),  # timestamp 8: the latest
        ),
    )
    _check(
        [
            ("metrics.common = 1.0", {r1, r2}),
            ("metrics.common > 0.0", {r1, r2}),
            ("metrics.common >= 0.0", {r1, r2}),
            ("metrics.common < 4.0", {r1, r2}),
            ("metrics.common <= 4.0", {r1, r2}),
            ("metrics.common != 1.0", set()),
            ("metrics.common >= 3.0", set()),
            ("metrics.common <= 0.75", set()),
            ("metrics.measure_a > 0.0", {r1, r2}),
            ("metrics.measure_a < 50.0", {r1}),
            ("metrics.measure_a < 1000.0", {r1, r2}),
            ("metrics.measure_a != -12.0", {r1, r2}),
            ("metrics.measure_a > 50.0", {r2}),
            ("metrics.measure_a = 1.0", {r1}),
            ("metrics.measure_a = 400.0", {r2}),
            ("metrics.m_a > 1.0", {r1}),
            ("metrics.m_b > 1.0", {r2}),
            ("metrics.m_b > 5.0", set()),
            ("metrics.m_b = 4.0", {r2}),
        ]
    )


@DATABASES
def test_mlflows_store_searches_attributes(backend: str) -> None:
    # test_sqlalchemy_store.py: test_search_attrs, over two experiments. cairn's artifact_uri
    # is runs:/RUN_ID (its artifacts are blobs of the workspace, named through the run).
    running = cairn.start_run("r1", experiment="search_attributes_1", activate=False)
    try:
        _search_attributes(running.id)
    finally:
        running.end()


def _search_attributes(r1: str) -> None:
    r2 = _make("r2", experiment="search_attrs_2", status=RunStatus.FAILED)
    uri = f"{ARTIFACT_URI_PREFIX}{r1}"
    _check(
        [
            ("", {r1, r2}),
            ("attribute.status = 'RUNNING'", {r1}),
            ("attribute.status = 'FAILED'", {r2}),
            ("attribute.status = 'KILLED'", set()),
            (f"attr.artifact_uri = '{uri}'", {r1}),
            (f"attr.artifact_uri = '{uri.lower()}'", set()),  # MLflow: its id upper-cased
            (f"attr.artifact_uri != '{uri.lower()}'", {r1, r2}),
            (f"attr.artifact_uri = '{ARTIFACT_URI_PREFIX}{r2}/{r1}'", set()),
            ("attribute.artifact_uri = 'random_artifact_path'", set()),
            ("attribute.artifact_uri != 'random_artifact_path'", {r1, r2}),
            (f"attribute.artifact_uri LIKE '%{r1}%'", {r1}),
            (f"attribute.artifact_uri LIKE '%{r1[:16]}%'", {r1}),
            (f"attribute.artifact_uri LIKE '%{r1[-16:]}%'", {r1}),
            (f"attribute.artifact_uri LIKE '%{r1.lower()}%'", set()),
            (f"attribute.artifact_uri ILIKE '%{r1.lower()}%'", {r1}),
            (f"attribute.artifact_uri ILIKE '%{r1[:16].lower()}%'", {r1}),
            (f"attribute.artifact_uri ILIKE '%{r1[-16:].lower()}%'", {r1}),
        ]
    )
    _check_errors(
        [
            ("attribute.experiment_id = '1'", "no attribute 'experiment_id'"),
            ("attribute.lifecycle_stage = 'ACTIVE'", "no attribute 'lifecycle_stage'"),
            # cairn refuses a status it does not have where MLflow answers (all or nothing):
            # MLflow's SCHEDULED is no state of a cairn run, and 'blah' is no state at all.
            ("attribute.status != 'blah'", "no run status 'blah'"),
            ("attribute.status != 'SCHEDULED'", "no run status 'SCHEDULED'"),
            ("attribute.status = 'SCHEDULED'", "no run status 'SCHEDULED'"),
        ]
    )


@DATABASES
def test_mlflows_store_searches_params_metrics_and_attributes_together(backend: str) -> None:
    # test_sqlalchemy_store.py: test_search_full.
    r1 = _make(
        "r1",
        params={"generic_param": "p_val", "p_a": "abc"},
        metrics=(("common", 1.0), ("m_a", 2.0)),
    )
    r2 = _make(
        "r2",
        params={"generic_param": "p_val", "p_b": "ABC"},
        metrics=(("common", 1.0), ("m_b", 3.0), ("m_b", 8.0), ("m_b", 4.0)),
    )
    both = "params.generic_param = 'p_val' and metrics.common = 1.0"
    _check(
        [
            (both, {r1, r2}),
            (f"{both} and metrics.m_a > 1.0", {r1}),
            (f"{both} and metrics.m_a > 1.0 and params.p_a LIKE 'a%'", {r1}),
            (f"{both} and metrics.m_a > 1.0 and params.p_a LIKE 'A%'", set()),
            (f"{both} and metrics.m_a > 1.0 and params.p_a ILIKE 'A%'", {r1}),
            (
                "params.random_bad_name = 'p_val' and metrics.common = 1.0 and metrics.m_a > 1.0",
                set(),
            ),
            (f"{both} and metrics.m_a > 100.0", set()),
        ]
    )


@DATABASES
def test_mlflows_store_searches_run_names_and_ids(backend: str) -> None:
    # test_sqlalchemy_store.py: test_search_runs_run_name and test_search_runs_run_id. (Its
    # tags.`mlflow.runName` cases are left out: cairn keeps the name in the run, not a tag.)
    run1 = _make("run_name1")
    run2 = _make("run_name2")
    _check(
        [
            ("attributes.run_name = 'run_name1'", {run1}),
            ("attributes.`Run name` = 'run_name1'", {run1}),
            ("attributes.`run name` = 'run_name2'", {run2}),
            ("attributes.`Run Name` = 'run_name2'", {run2}),
            (f"attributes.run_id = '{run1}'", {run1}),
            (f"attributes.run_id != '{run1}'", {run2}),
            (f"attributes.run_id IN ('{run1}')", {run1}),
            (f"attributes.run_id NOT IN ('{run1}')", {run2}),
            (f"run_name = 'run_name1' AND run_id IN ('{run1}')", {run1}),
            (f"attributes.run_id NOT IN ('{run1}', '{run2}')", set()),
        ]
    )
    for filter in [
        f"attributes.run_id IN ('{run1}','{run2}')",
        f"attributes.run_id IN ('{run1}', '{run2}')",
        f"attributes.run_id IN ('{run1}',  '{run2}')",
    ]:
        assert [r.id for r in cairn.search_runs(filter=filter)] == [run2, run1]


@DATABASES
def test_mlflows_times_are_epoch_milliseconds(backend: str) -> None:
    # test_sqlalchemy_store.py: test_search_runs_start_time_alias; MLflow starts these runs
    # at 1 and 2 ms after the epoch.
    run1, run2 = _make("name"), _make("name")
    _set(run1, started=0.001)
    _set(run2, started=0.002)
    named = "attributes.run_name = 'name'"
    for order_by, expected in [
        (["attributes.start_time DESC"], [run2, run1]),
        (["attributes.created ASC"], [run1, run2]),
        (["attributes.Created DESC"], [run2, run1]),
    ]:
        assert [r.id for r in cairn.search_runs(filter=named, order_by=order_by)] == expected
    _check(
        [
            ("attributes.start_time > 0", {run1, run2}),
            ("attributes.created > 1", {run2}),
            ("attributes.Created > 2", set()),
        ]
    )


@DATABASES
def test_mlflows_start_end_time_and_user_filters(backend: str) -> None:
    # test_search_utils.py: test_filter_runs_by_start_time, test_filter_runs_by_end_time and
    # test_filter_runs_by_user_id (times in milliseconds).
    a, b, c = _make("a"), _make("b"), _make("c")
    for ms, run in enumerate((a, b, c)):
        _set(run, started=ms / 1000, ended=ms / 1000, user="user-id")
    _set(c, user="user-id2")
    _check(
        [
            ("attribute.start_time >= 0", {a, b, c}),
            ("attribute.start_time > 1", {c}),
            ("attribute.start_time = 2", {c}),
            ("attribute.end_time >= 0", {a, b, c}),
            ("attribute.end_time > 1", {c}),
            ("attribute.end_time = 2", {c}),
            ("attribute.user_id = 'user-id2'", {c}),
        ]
    )


@DATABASES
def test_mlflows_dataset_searches(backend: str) -> None:
    # test_sqlalchemy_store.py: test_search_runs_datasets; the datasets a run used are the
    # dataset versions it loaded. MLflow's datasets.context cases are a deliberate difference:
    # cairn records no context for a dataset a run used, and says so.
    digests = {
        name: cairn.datasets.save(name, {"name": name}).digest
        for name in ("name1", "name2", "name3")
    }
    run1 = _make("run1", datasets=("name1", "name2"))
    run2 = _make("run2", datasets=("name1", "name3"))
    run3 = _make("run3", datasets=("name2",))
    _check(
        [
            ("dataset.name = 'name1'", {run1, run2}),
            (f"dataset.digest = '{digests['name2']}'", {run1, run3}),
            (f"dataset.digest = '{digests['name2'].upper()}'", {run1, run3}),  # any case
            ("dataset.name = 'name4'", set()),
            ("datasets.name IN ('name1', 'name2')", {run1, run2, run3}),
            (
                f"datasets.digest IN ('{digests['name1']}', '{digests['name2']}')",
                {run1, run2, run3},
            ),
            ("datasets.name LIKE 'Name%'", set()),
            ("datasets.name ILIKE 'Name%'", {run1, run2, run3}),
            # cairn's not in: a run that used a dataset outside the list, as MLflow's store.
            ("datasets.name NOT IN ('name1', 'name3')", {run1, run3}),
        ]
    )
    _check_errors(
        [
            ("dataset.context = 'train'", "cairn records no context"),
            ("datasets.context ILIKE 'test%'", "no dataset field 'context'"),
        ]
    )
    assert DATASET_KINDS == KINDS  # tracking's copy of what a dataset version is


@DATABASES
def test_mlflows_is_null_on_tags_and_params(backend: str) -> None:
    # test_search_utils.py: test_filter_runs_by_tag_and_param_is_null.
    run1 = _make("run1", tags={"env": "prod"})
    run2 = _make("run2", params={"lr": "0.01"})
    _check(
        [
            ("tags.env IS NOT NULL", {run1}),
            ("tags.env IS NULL", {run2}),
            ("params.lr IS NOT NULL", {run2}),
            ("params.lr IS NULL", {run1}),
        ]
    )


@DATABASES
def test_filters_mlflow_refuses_are_errors_that_say_why(backend: str) -> None:
    # test_search_utils.py: test_error_filter, test_error_comparison_clauses,
    # test_bad_quotes, test_invalid_clauses and test_bad_comparators.
    bad_comparators = [
        *(f"params.abc {op} 'my-param-value'" for op in (">", "<", ">=", "<=")),
        *(f"tags.abc {op} 'my-tag-value'" for op in (">", "<", ">=", "<=")),
        *(f"attributes.status {op} 'my-tag-value'" for op in (">", "<", ">=", "<=")),
        *(f"datasets.name {op} 'my-dataset-name'" for op in (">", "<", ">=", "<=")),
    ]
    _check_errors(
        [
            ("metric.acc >= 0.94; metrics.rmse < 1", "join conditions with and / or"),
            ("m.acc >= 0.94", "no field m.*"),
            ("m.acc >= 0.94", "did you mean metrics or metric?"),
            ("acc >= 0.94", "no attribute 'acc'"),
            ("acc >= 0.94", "did you mean metrics.acc, params.acc or tags.acc?"),
            ("p.model >= 'LR'", "no field p.*"),
            ("attri.x != 1", "did you mean attributes or attribute?"),
            ("a.x != 1", "no field a.*"),
            ("model >= 'LR'", "no attribute 'model'"),
            ("metrics.A > 0.1 NAND params.B = 'LR'", "unexpected text"),
            ("`metrics.A > 0.1", "this backtick is never closed"),
            ("param`.A > 0.1", "this backtick is never closed"),
            ("`dummy.A > 0.1", "this backtick is never closed"),
            ("dummy`.A > 0.1", "this backtick is never closed"),
            ("attribute.start != 1", "did you mean started or start_time?"),
            ("attribute.experiment_id != 1", "search_runs(experiment=...) chooses"),
            ("attribute.lifecycle_stage = 'ACTIVE'", "no attribute 'lifecycle_stage'"),
            ("attribute.name != 1", "attributes.name takes 'text'"),  # cairn's run name
            ("attribute.time != 1", "no attribute 'time'"),
            ("attribute._status != 'RUNNING'", "did you mean status?"),
            ("attribute.status = true", "attributes.status takes one of"),
            ("dataset.status = 'true'", "no dataset field 'status'"),
            ("dataset.profile = 'num_rows: 10'", "datasets take name and digest"),
            ("attribute.status IS NULL", "attributes.status takes one of"),
            ("metric.model = 'LR'", "metrics.model takes a number"),
            ("metric.model = '5'", "metrics.model takes a number"),
            ("metrics.acc != metrics.acc", "expected a number or a 'quoted' value"),
            ("1.0 > metrics.acc", "expected a field"),
            ("attribute.status = 1", "attributes.status takes one of"),
            ("params.acc = LR", "write 'LR'"),
            ("tags.acc = LR", "write 'LR'"),
            ("params.acc = `LR`", "`backticks` quote names"),
            ("params.'acc = LR", "unexpected character"),
            ("params.acc = 'LR", "this quote is never closed"),
            ("params.acc = LR'", "this quote is never closed"),
            ("params.acc = \"LR'", "this quote is never closed"),
            ("tags.acc = \"LR'", "this quote is never closed"),
            ("tags.acc = = 'LR'", "expected a number or a 'quoted' value"),
            ("attribute.status IS 'RUNNING'", "is takes null"),
            ("params.acc LR !=", "expected =, !=, <, <=, >, >=, like, ilike, in"),
            ("params.acc LR", "expected =, !="),
            ("metric.acc !=", "ends too soon"),
            ("acc != 1.0", "no attribute 'acc'"),
            ("foo is null", "no attribute 'foo'"),
            ("1=1", "expected a field"),
            ("1==2", "expected a field"),
            ("metrics.abc ~ 1.0", "unexpected character"),
            ("metrics.abc ~= 1.0", "unexpected character"),
            ("attributes.start_time LIKE 1234", "epoch milliseconds"),
            ("attributes.start_time ILIKE 1234", "epoch milliseconds"),
            # MLflow parses this one and refuses it when it searches: params take = != like.
            ("`params`.model >= 'LR'", "params.model takes"),
            *((bad, "takes") for bad in bad_comparators),
        ]
    )


@DATABASES
def test_what_mlflow_refuses_and_cairn_takes_on_purpose(backend: str) -> None:
    # From the same MLflow tests: cairn's extensions (or, parentheses, numbers compared with
    # numeric params and with tags as written, is null on metrics) are no errors in cairn.
    a = _make("a", params={"B": "LR", "acc": 5}, tags={"acc": "5"}, metrics=(("A", 0.5),))
    b = _make("b", params={"acc": "5"})
    _check(
        [
            ("metrics.A > 0.1 OR params.B = 'LR'", {a}),
            ("metrics.A > 0.1 AND (params.B = 'LR')", {a}),
            ("params.acc = 5", {a}),  # the number 5, not the text "5"
            ("params.acc = '5'", {a, b}),  # the text, as MLflow compares it
            ("tags.acc = 5", {a}),
            ("metrics.acc IS NULL", {a, b}),
        ]
    )


@DATABASES
def test_a_quoted_value_compares_with_a_typed_params_text_as_mlflow_logs_it(
    backend: str,
) -> None:
    # The case: MLflow logs str(value), so a script filtering on '0.5' or 'True'
    # finds the run that logged 0.5 or True through cairn's typed params.
    run = _make(
        "typed",
        params={"alpha": 0.5, "fit": True, "depth": None, "n": 10, "big": 1e20, "nan": math.nan},
    )
    _check(
        [
            ("params.alpha = '0.5'", {run}),
            ("params.fit = 'True'", {run}),
            ("params.fit ILIKE 'true'", {run}),
            ("params.depth = 'None'", {run}),
            ("params.n = '10'", {run}),
            ("params.big = '1e+20'", {run}),
            ("params.nan = 'nan'", {run}),
            ("params.alpha IN ('0.5', '0.7')", {run}),
            ("params.alpha = 0.5", {run}),
            ("params.fit = true", {run}),
        ]
    )


@DATABASES
def test_mlflows_orderings(backend: str) -> None:
    # test_search_utils.py: test_correct_sorting. MLflow breaks ties by start time (newest
    # first), then run id; cairn by start time, then id (later ULIDs first), which orders
    # these runs, made one after another, the same way.
    r0 = _make("0", status=RunStatus.FAILED, metrics=(("key1", 121.0),), params={"my_param": "A"})
    r1 = _make("1", metrics=(("key1", 123.0),), params={"my_param": "A"}, tags={"tag1": "C"})
    r2 = _make(
        "2",
        status=RunStatus.FAILED,
        metrics=(("key1", 125.0),),
        params={"my_param": "B"},
        tags={"tag1": "D"},
    )
    for run, ms in ((r0, 0), (r1, 1), (r2, 1)):
        _set(run, started=ms / 1000)
    _check_orders(
        [
            (None, ["2", "1", "0"]),
            ([], ["2", "1", "0"]),
            (["tags.noSuchTag"], ["2", "1", "0"]),
            (["attributes.status"], ["2", "0", "1"]),
            (["attributes.start_time"], ["0", "2", "1"]),
            (["metrics.key1 asc"], ["0", "1", "2"]),
            (['metrics."key1"  desc'], ["2", "1", "0"]),
            (["params.my_param"], ["1", "0", "2"]),
            (["params.my_param aSc", "attributes.status  ASC"], ["0", "1", "2"]),
            (["params.my_param", "attributes.status DESC"], ["1", "0", "2"]),
            (["params.my_param DESC", "attributes.status   DESC"], ["2", "1", "0"]),
            (["params.`my_param` DESC", "attributes.status DESC"], ["2", "1", "0"]),
            (["tags.tag1"], ["1", "2", "0"]),
            (["tags.tag1    DESC"], ["2", "1", "0"]),
            # test_sqlalchemy_store.py: test_search_runs_keep_all_runs_when_sorting
            (["tag.t1"], ["2", "1", "0"]),
            # the bare spelling of test_log_inputs_and_retrieve_runs_behaves_as_expected
            # (test_sqlalchemy_store.py)
            (["start_time ASC"], ["0", "2", "1"]),
            (["start_time DESC"], ["2", "1", "0"]),
        ]
    )


@DATABASES
def test_mlflows_ordering_by_metrics_tags_and_params(backend: str) -> None:
    # test_sqlalchemy_store.py: test_order_by_metric_tag_param: numbers in order, then NaN,
    # then runs without the metric, whichever the direction. MLflow names the runs "x/y";
    # a cairn run name holds no "/", so here they are "x:y".
    for x, y in zip(
        [None, "nan", "inf", "-inf", "-1000", "0", "0", "1000"],
        ["1", "2", "3", "4", "5", "6", "7", "8"],
        strict=True,
    ):
        metrics = () if x is None else (("x", float(x)), ("y", float(y)))
        _make(f"{x}:{y}", tags={"metric": y}, params={"metric": y}, metrics=metrics)
    ascending = ["-inf:4", "-1000:5", "0:6", "0:7", "1000:8", "inf:3", "nan:2", "None:1"]
    descending = ["inf:3", "1000:8", "0:6", "0:7", "-1000:5", "-inf:4", "nan:2", "None:1"]
    _check_orders(
        [
            (["metrics.x asc", "metrics.y asc"], ascending),
            (["metrics.x asc", "tag.metric asc"], ascending),
            (["metrics.x asc", "metrics.y desc"], [*ascending[:2], "0:7", "0:6", *ascending[4:]]),
            (["metrics.x asc", "tag.metric desc"], [*ascending[:2], "0:7", "0:6", *ascending[4:]]),
            (["metrics.x desc", "metrics.y asc"], descending),
            (
                ["metrics.x desc", "param.metric desc"],
                [*descending[:2], "0:7", "0:6", *descending[4:]],
            ),
        ]
    )


@DATABASES
def test_mlflows_ordering_by_end_and_start_time(backend: str) -> None:
    # test_sqlalchemy_store.py: test_order_by_attributes (times in milliseconds).
    for offset, end in enumerate([234, None, 456, -123, 789, 123]):
        run = _make(str(end))
        _set(run, started=(123 + offset) / 1000, ended=None if end is None else end / 1000)
    assert _ordered(["attribute.end_time asc"]) == ["-123", "123", "234", "456", "789", "None"]
    assert _ordered(["attribute.end_time desc"]) == ["789", "456", "234", "123", "-123", "None"]
    assert _ordered(["attribute.start_time asc", "attribute.end_time desc"]) == [
        "234",
        "None",
        "456",
        "-123",
        "789",
        "123",
    ]


@DATABASES
def test_mlflows_orderings_by_a_quoted_key_and_bad_ones(backend: str) -> None:
    # test_search_utils.py: test_space_order_by_search_runs and
    # test_invalid_order_by_search_runs.
    for name, value in (("low", 0.1), ("high", 0.9)):
        _make(name, metrics=(("Mean Square Error", value),))
    assert _ordered(["metrics.`Mean Square Error`"]) == ["low", "high"]
    assert _ordered(["metrics.`Mean Square Error` ASC"]) == ["low", "high"]
    assert _ordered(["metrics.`Mean Square Error` DESC"]) == ["high", "low"]
    # MLflow refuses a trailing space; cairn reads "params.my_param " as "params.my_param".
    assert _ordered(["params.my_param "]) == ["high", "low"]
    _check_errors(
        [
            ("m.acc", "no field m.*"),
            ("acc", "no attribute 'acc'"),
            ("attri.x", "no field attri.*"),
            ("`metrics.A", "this backtick is never closed"),
            ("`metrics.A`", "quote the key alone"),
            ("attribute.start", "no attribute 'start'"),
            ("attribute.experiment_id", "no attribute 'experiment_id'"),
            ("metrics.A != 1", "the direction is asc or desc"),
            ("attribute.run_id ACS", "the direction is asc or desc"),
            ("attribute.run_id decs", "the direction is asc or desc"),
        ],
        order=True,
    )
