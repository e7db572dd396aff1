"""Comparing runs (`/compare?runs=A,B` or `?experiment=NAME`) and its API: params side by
side with the differing ones marked, a metric's value at a chosen step, each metric's
curves overlaid (`/api/compare/curves`) and a param against a metric over up to 10,000 runs
(`/api/compare/scatter`). Like the run page's, the handlers are plain functions, run in
Starlette's thread pool: one chart's curves of 1,000 runs do not hold up the others."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.errors import NotFoundError, PayloadTooLargeError, RequestError
from cairn.store import Store
from cairn.tracking.comparing import (
    Pick,
    experiment_runs,
    keys_of,
    metric_values,
    param_values,
    resolve_runs,
    values_at_step,
)
from cairn.tracking.query import RunRecord, load_runs
from cairn.tracking.series import LIMIT, MAX_POINTS, aligned_series
from cairn.ui.runs import summary_json
from cairn.ui.web import api, page, query_int, query_list, query_text, store_of

MAX_RUNS = 10_000  # runs one comparison takes (the scatter shows them all)
MAX_CURVE_RUNS = 1_000  # runs whose curves one chart overlays
MAX_TABLE_RUNS = 100  # runs the page's params table shows side by side
# Points of one curves chart, shared out among its runs: 1,000 runs get 50 points each,
# which keeps the chart's data (mean, min and max of each) near 3 MB of JSON.
CURVE_POINTS = 50_000
MIN_CURVE_POINTS = 20
MAX_STEP = 2**63 - 1  # BIGINT's greatest


@dataclass(frozen=True)
class Selection:
    """The runs a request compares: listed (`?runs=`) or a whole experiment."""

    run_ids: list[str]
    experiment: str | None

    @property
    def query(self) -> str:
        """The query string that selects the same runs again."""
        if self.experiment is not None:
            return urlencode({"experiment": self.experiment})
        return urlencode({"runs": ",".join(self.run_ids)})


def selection(request: Request, store: Store) -> Selection:
    """`?runs=A,B` (full ids, or an id's start or end, as the CLI takes them) or
    `?experiment=NAME`: none, both, an unknown run or more than MAX_RUNS runs are refused."""
    refs, experiment = query_list(request, "runs"), query_text(request, "experiment")
    if refs and experiment:
        raise RequestError("give runs=ID,ID,... or experiment=NAME, not both")
    if not refs and experiment is None:
        raise RequestError("nothing to compare: give runs=ID,ID,... or experiment=NAME")
    if len(refs) > MAX_RUNS:
        raise PayloadTooLargeError(f"{len(refs)} runs: a comparison takes at most {MAX_RUNS}")
    if experiment is None:
        return Selection(resolve_runs(refs, store=store), None)
    run_ids = experiment_runs(experiment, limit=MAX_RUNS + 1, store=store)
    if not run_ids:
        raise NotFoundError(f"experiment {experiment!r} has no runs to compare")
    if len(run_ids) > MAX_RUNS:
        raise PayloadTooLargeError(
            f"experiment {experiment!r} has more than {MAX_RUNS} runs: compare chosen runs "
            "(runs=ID,ID,...) instead"
        )
    return Selection(run_ids, experiment)


@dataclass
class Comparison:
    selection: Selection
    runs: list[RunRecord]
    params: list[str]
    differing: list[str]  # params whose values differ, or that some runs lack
    metrics: list[str]

    def as_json(self) -> dict:
        return {
            "runs": [{**summary_json(r), "params": r.params} for r in self.runs],
            "params": self.params,
            "differing": self.differing,
            "metrics": self.metrics,
        }


def comparison(request: Request) -> Comparison:
    store = store_of(request)
    chosen = selection(request, store)
    runs = load_runs(chosen.run_ids, store=store)
    params, metrics = keys_of(chosen.run_ids, store=store)
    differing = [k for k in params if _differs(runs, k)]
    return Comparison(chosen, runs, params, differing, metrics)


_MISSING = object()


def _differs(runs: list[RunRecord], key: str) -> bool:
    """Whether param `key` has two values among the runs, or some run lacks it."""
    values = [r.params.get(key, _MISSING) for r in runs]
    return any(v is _MISSING or v != values[0] for v in values)


def at_step(request: Request, compared: Comparison, metric: str | None) -> dict | None:
    """The metric's last value at or before ?step= (the last value, with no step) of each
    run, or None without a metric."""
    step = (
        None if query_text(request, "step") is None else query_int(request, "step", 0, 0, MAX_STEP)
    )
    if metric is None:
        if step is not None:
            raise RequestError("step needs a metric: give metric=KEY too")
        return None
    ids = [r.id for r in compared.runs]
    found = values_at_step(ids, metric, step, store=store_of(request))
    return {
        "metric": metric,
        "step": step,
        "values": [
            {"run": i, "step": found[i][0], "value": found[i][1]}
            if i in found
            else {"run": i, "step": None, "value": None}
            for i in ids
        ],
    }


def compare_api(request: Request) -> Response:
    compared = comparison(request)
    values = at_step(request, compared, query_text(request, "metric"))
    return api({**compared.as_json(), **(values or {})})


def compare_page(request: Request) -> Response:
    compared = comparison(request)
    first_metric = compared.metrics[0] if compared.metrics else None
    values = at_step(request, compared, query_text(request, "metric") or first_metric)
    return page(
        request,
        "compare.html",
        compared=compared,
        values=values,
        names={r.id: r.name for r in compared.runs},
        x=query_text(request, "x") or next(iter(compared.differing or compared.params), None),
        y=query_text(request, "y") or first_metric,
        pick=_pick(request).value,
        picks=[p.value for p in Pick],
        max_table_runs=MAX_TABLE_RUNS,
        max_curve_runs=MAX_CURVE_RUNS,
    )


def curves_api(request: Request) -> Response:
    """?metric=KEY[&max_points=]: each run's curve of the metric on shared steps, at most
    max_points each (by default as many as keep the chart's total near CURVE_POINTS)."""
    store = store_of(request)
    chosen = selection(request, store)
    metric = query_text(request, "metric")
    if metric is None:
        raise RequestError("give metric=KEY: the metric whose curves to overlay")
    if len(chosen.run_ids) > MAX_CURVE_RUNS:
        raise PayloadTooLargeError(
            f"{len(chosen.run_ids)} runs: one chart overlays at most {MAX_CURVE_RUNS} curves"
        )
    fair = max(MIN_CURVE_POINTS, min(MAX_POINTS, CURVE_POINTS // len(chosen.run_ids)))
    points = query_int(request, "max_points", fair, 2, LIMIT)
    series = aligned_series(chosen.run_ids, metric, max_points=points, store=store)
    return api({**series.as_json(), "max_points": points})


def scatter_api(request: Request) -> Response:
    """?param=P&metric=M[&pick=last|min|max]: the param and the metric of every run that has
    both, as columns (run, x, y)."""
    store = store_of(request)
    chosen = selection(request, store)
    param, metric = query_text(request, "param"), query_text(request, "metric")
    if param is None or metric is None:
        raise RequestError("give param=KEY and metric=KEY: the scatter's x and y")
    pick = _pick(request)
    xs = param_values(chosen.run_ids, param, store=store)
    ys = metric_values(chosen.run_ids, metric, pick, store=store)
    both = [i for i in chosen.run_ids if i in xs and i in ys and not math.isnan(ys[i])]
    return api(
        {
            "param": param,
            "metric": metric,
            "pick": pick.value,
            "run": both,
            "x": [xs[i] for i in both],
            "y": [ys[i] for i in both],
            "runs": len(chosen.run_ids),
        }
    )


def _pick(request: Request) -> Pick:
    text = query_text(request, "pick") or Pick.LAST.value
    try:
        return Pick(text)
    except ValueError:
        choices = ", ".join(p.value for p in Pick)
        raise RequestError(f"pick must be one of {choices}, not {text!r}") from None


def routes() -> list[Route]:
    return [
        Route("/compare", compare_page),
        Route("/api/compare", compare_api),
        Route("/api/compare/curves", curves_api),
        Route("/api/compare/scatter", scatter_api),
    ]
