"""search_runs gives the same answer on SQLite and PostgreSQL, and a filter or an order it
cannot honour is an error saying what it takes, never a wrong or empty answer.

The cases come from MLflow's filter tests (tests/utils/test_search_utils.py and the
`test_search_*` tests of tests/store/tracking/test_sqlalchemy_store.py)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

import cairn
from cairn.states import RunStatus

DATABASES = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _make(name: str, status: RunStatus, params: dict, tags: dict, metrics: dict) -> str:
    run = cairn.start_run(name, experiment="search", params=params, tags=tags)
    if metrics:
        run.log(metrics)
    run.end(status)
    return run.id


@pytest.fixture
def runs(backend: str) -> dict[str, str]:
    """Four runs, started in this order: run name -> id."""
    return {
        "r1": _make(
            "r1",
            RunStatus.FAILED,
            {
                "generic_2": "some value",
                "p_a": "abc",
                "my param": "A",
                "C": 0.1,
                "word": "café",
                "quote": 'say "hi"',
                "u": "a_b",
                "flag": True,
            },
            {"generic_2": "some value", "n": "10", "v": "1.0"},
            {"common": 1.0, "val acc": 0.5, "x": math.nan},
        ),
        "r2": _make(
            "r2",
            RunStatus.FINISHED,
            {"generic_2": "another value", "p_b": "ABC", "my param": "B", "C": 10, "u": "axb"},
            {"generic_2": "another value", "n": "9"},
            {"common": 1.0, "val acc": 0.9, "x": 2.0},
        ),
        "R3": _make(
            "R3",
            RunStatus.FINISHED,
            {"my param": 5, "C": "high", "u": "a*[b]?"},
            {},
            {"val acc": 0.7, "x": -1.0},
        ),
        "r4": _make("r4", RunStatus.FINISHED, {}, {}, {}),
    }


def found(filter: str) -> set[str]:
    return {r.name for r in cairn.search_runs("search", filter)}


def ordered(*order_by: str) -> list[str]:
    return [r.name for r in cairn.search_runs("search", order_by=list(order_by))]


@DATABASES
def test_like_tells_upper_from_lower_case(runs: dict[str, str]) -> None:
    assert found("params.generic_2 LIKE '%other%'") == {"r2"}
    assert found("params.generic_2 LIKE '%Other%'") == set()
    assert found("tags.generic_2 LIKE '%Other%'") == set()
    assert found("params.p_a LIKE 'A%'") == set()
    assert found("params.p_a like 'a%'") == {"r1"}
    assert found("attributes.name LIKE 'r%'") == {"r1", "r2", "r4"}


@DATABASES
def test_like_wildcards_and_backslash_escapes(runs: dict[str, str]) -> None:
    assert found("params.u LIKE 'a_b'") == {"r1", "r2"}
    assert found(r"params.u LIKE 'a\_b'") == {"r1"}
    assert found(r"params.u LIKE 'a\\_b'") == {"r1"}  # the literal's \\ is one backslash
    # What GLOB would read as wildcards or a character class is literal text in like.
    assert found("params.u LIKE 'a*%'") == {"R3"}
    assert found("params.u LIKE '%[b]%'") == {"R3"}
    assert found("params.u LIKE '%?'") == {"R3"}
    assert found("params.u LIKE '%'") == {"r1", "r2", "R3"}


@DATABASES
def test_quoted_values_compare_with_a_params_text(runs: dict[str, str]) -> None:
    assert found("params.word LIKE '%é'") == {"r1"}  # stored as JSON "caf\u00e9"
    assert found("params.word = 'café'") == {"r1"}
    assert found("params.quote LIKE '%\"hi\"'") == {"r1"}
    assert found("params.C = '0.1'") == {"r1"}  # a number's text is its JSON
    assert found("params.C LIKE '1%'") == {"r2"}
    assert found("params.C = 'high'") == {"R3"}
    assert found("params.C > 1") == {"r2"}  # numbers compare with numeric params only
    assert found("params.flag = 'True'") == {"r1"}  # MLflow logs str(True)
    assert found("params.flag = true") == {"r1"}
    assert found("params.flag != false") == {"r1"}


@DATABASES
def test_status_compares_in_any_case(runs: dict[str, str]) -> None:
    assert found("attributes.status = 'FAILED'") == {"r1"}
    assert found("attribute.status = 'Finished'") == {"r2", "R3", "r4"}
    assert found("attributes.status != 'FINISHED'") == {"r1"}
    assert found("attributes.status = 'running'") == set()


@DATABASES
def test_an_unknown_status_is_an_error_listing_the_statuses(runs: dict[str, str]) -> None:
    with pytest.raises(cairn.FilterSyntaxError, match="no run status 'SCHEDULED'") as raised:
        found("attributes.status != 'SCHEDULED'")
    assert all(status.value in str(raised.value) for status in RunStatus)


@DATABASES
@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("attributes.status < 'x'", "attributes.status takes one of running, finished"),
        ("attributes.status LIKE 'fin%'", "attributes.status takes one of"),
        ("attributes.status = 1", "attributes.status takes one of"),
        ("attributes.name > 'a'", "attributes.name takes 'text' with =, !=, like"),
        ("attributes.id >= '0'", "attributes.id takes 'text' (any case) with =, !=, like"),
        ("attributes.started LIKE '1%'", "takes a number (epoch seconds) with =, !=, <"),
        ("attributes.started > 'abc'", "attributes.started takes a number (epoch seconds)"),
        ("attributes.ended < null", "attributes.ended takes a number (epoch seconds)"),
        ("attributes.start > 0", "did you mean started or start_time?"),
        ("attributes.start > 0", "attributes are name, status, user, host, started"),
        ("tags.n > 5", "tags.n takes 'text' with =, !=, like"),
        ("tags.n = true", "tags.n takes 'text'"),
        ("metrics.common LIKE '1%'", "metrics.common takes a number with =, !=, <, <=, >, >="),
        ("metrics.common > 'a'", "metrics.common takes a number"),
        ("metrics.common = null", "metrics.common takes a number"),
        ("params.flag < true", "true or false with =, !="),
        ("params.generic_2 > 'a'", "'text' with =, !=, like"),
        ("params.generic_2 = null", "params.generic_2 takes a number with"),
        ("params.generic_2 IS 'x'", "is takes null (is null, is not null)"),
        ("params.generic_2 NOT LIKE 'x'", "only in follows not here"),
        ("metrics.common IN ('a')", "metrics.common takes a number"),
        ("params.generic_2 IN ('a', null)", "null is not a value an in list holds"),
        ("m.acc >= 0.94", "no field m.*; fields are params.X, metrics.X"),
        ("datasets.context = 'x'", "no dataset field 'context'"),
        ("params.`` = 'x'", "the name after the dot is empty"),
        (r"params.u LIKE 'a\\'", "ends with \\, which escapes nothing"),
    ],
)
def test_what_a_field_does_not_take_is_an_error_saying_what_it_takes(
    runs: dict[str, str], bad: str, says: str
) -> None:
    with pytest.raises(cairn.FilterSyntaxError) as raised:
        found(bad)
    assert says in str(raised.value)
    assert "^" in str(raised.value) or "like pattern" in str(raised.value)


@DATABASES
def test_mlflow_spellings_of_fields(runs: dict[str, str]) -> None:
    assert found("metric.common>=1") == {"r1", "r2"}
    assert found('metrics."val acc" >= 0.6') == {"r2", "R3"}
    assert found("metrics.`val acc` >= 0.6") == {"r2", "R3"}
    assert found('params."my param" != "A"') == {"r2", "R3"}
    assert found('params.m = "L\'Hosp"') == set()


@DATABASES
def test_a_tag_compared_with_a_number_compares_its_text_as_written(runs: dict[str, str]) -> None:
    assert found("tags.v = 1.0") == {"r1"}
    assert found("tags.v = 1") == set()
    assert found("tags.n = 10") == {"r1"}


@DATABASES
def test_ids_in_any_case_and_missing_parents(runs: dict[str, str]) -> None:
    with cairn.start_run("child", experiment="search", parent=runs["r2"]) as child:
        pass
    assert found(f"attributes.id = '{runs['r1'].lower()}'") == {"r1"}
    assert found(f"attributes.parent_id = '{runs['r2'].lower()}'") == {"child"}
    assert found(f"attributes.id LIKE '{runs['R3'][:20].lower()}%'") == {"R3"}
    assert found("attributes.parent_id = null") == {"r1", "r2", "R3", "r4"}
    assert found("attributes.parent_id != null") == {child.name}


@DATABASES
def test_a_nan_metric_satisfies_no_comparison_and_sorts_after_numbers(
    runs: dict[str, str],
) -> None:
    # PostgreSQL stores NaN (above every number), SQLite NULL: both answer as MLflow does.
    assert found("metrics.x > 1") == {"r2"}
    assert found("metrics.x != 5") == {"r2", "R3"}
    assert found("metrics.x < 100") == {"r2", "R3"}
    assert ordered("metrics.x") == ["R3", "r2", "r1", "r4"]
    assert ordered("metrics.x desc") == ["r2", "R3", "r1", "r4"]


@DATABASES
def test_order_by_a_quoted_key(runs: dict[str, str]) -> None:
    assert ordered("metrics.`val acc` desc") == ["r2", "R3", "r1", "r4"]
    assert ordered('metrics."val acc" DESC') == ["r2", "R3", "r1", "r4"]
    assert ordered("metrics.`val acc`") == ["r1", "R3", "r2", "r4"]
    assert ordered('params."my param"') == ["R3", "r1", "r2", "r4"]


@DATABASES
def test_params_order_numbers_before_text_and_missing_last(runs: dict[str, str]) -> None:
    assert ordered("params.`my param` asc") == ["R3", "r1", "r2", "r4"]
    assert ordered("params.`my param` desc") == ["r2", "r1", "R3", "r4"]
    assert ordered("params.C") == ["r1", "r2", "R3", "r4"]
    assert ordered("params.C desc") == ["R3", "r2", "r1", "r4"]
    assert ordered("params.generic_2") == ["r2", "r1", "r4", "R3"]  # no key: newest first


@DATABASES
def test_order_by_tags_and_attributes(runs: dict[str, str]) -> None:
    assert ordered("tags.n") == ["r1", "r2", "r4", "R3"]  # text: "10" before "9"
    assert ordered("tags.n desc") == ["r2", "r1", "r4", "R3"]
    assert ordered("attributes.status", "attributes.name") == ["r1", "R3", "r2", "r4"]
    assert ordered("attributes.name desc") == ["r4", "r2", "r1", "R3"]


@DATABASES
@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("metrics.`val acc` sideways", "the direction is asc or desc"),
        ("metrics.acc desc now", "the direction is asc or desc"),
        ("acc", "no attribute 'acc'"),
        ("attributes.start", "attributes are name, status"),
        ("datasets.name", "datasets cannot order runs"),
        ("m.acc", "no field m.*"),
        ("", "write e.g."),
    ],
)
def test_a_bad_order_is_an_error(runs: dict[str, str], bad: str, says: str) -> None:
    with pytest.raises(cairn.FilterSyntaxError) as raised:
        ordered(bad)
    assert says in str(raised.value)


@DATABASES
def test_text_orders_by_code_point_whatever_the_collation(backend: str) -> None:
    store = cairn.get_store()
    if backend == "postgres":
        # As in a database made with a linguistic collation (here ICU English).
        with store.writer() as conn:
            for table, column, kind in [
                ("runs", "name", "varchar(255)"),
                ("params", "value", "text"),
                ("tags", "value", "text"),
            ]:
                conn.exec_driver_sql(
                    f'ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind} COLLATE "en-x-icu"'
                )
    for name in ["b", "B", "a", "A"]:
        with cairn.start_run(name, experiment="case", params={"p": name}, tags={"t": name}):
            pass
    if backend == "postgres":
        with store.reader() as conn:
            plain = conn.exec_driver_sql("SELECT name FROM runs ORDER BY name").scalars()
            assert list(plain) == ["a", "A", "b", "B"]  # the collation is in force
    for order in ("attributes.name", "params.p", "tags.t"):
        assert [r.name for r in cairn.search_runs("case", order_by=order)] == ["A", "B", "a", "b"]


@DATABASES
def test_a_view_of_the_past_filters_on_the_status_it_shows(backend: str) -> None:
    run = cairn.start_run("slow", experiment="past")
    run.flush()
    moment = time.time()
    run.end()
    then = [r.name for r in cairn.search_runs(filter="attributes.status = 'running'", as_of=moment)]
    assert then == ["slow"]
    assert cairn.search_runs(filter="attributes.status = 'finished'", as_of=moment) == []
    assert cairn.search_runs(filter="attributes.ended != null", as_of=moment) == []
    assert [r.name for r in cairn.search_runs(filter="attributes.status = 'finished'")] == ["slow"]


def test_an_id_fragment_is_text_not_a_pattern(workspace: Path) -> None:
    with cairn.start_run("only") as run:
        pass
    assert cairn.get_run(run.id[-6:].lower()).id == run.id
    for fragment in ("%%%%", "____"):
        with pytest.raises(cairn.NotFoundError):
            cairn.get_run(fragment)
