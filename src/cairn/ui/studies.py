"""The tuning studies (`/studies`), one study (`/studies/{name}?version=`) and their API: what
`cairn tune` wrote, as a best-so-far curve, a param-vs-value scatter and the trials by state.
A study with a trial still running is `live`: its page fetches the API again until none is."""

from __future__ import annotations

import json
import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cairn.states import Direction, TrialState
from cairn.tuning.studies import Study, TrialRecord, find_study, list_studies, load_trials
from cairn.tuning.summaries import StudySummary, summarize
from cairn.ui.web import api, page, query_int, store_of

REFRESH_MS = 2000  # how often a live study's page fetches its data again


def study_json(study: Study) -> dict:
    return {
        "name": study.name,
        "version": study.version,
        "metric": study.metric,
        "mode": study.mode.value,
        "sampler": study.sampler,
        "scheduler": study.scheduler,
        "space": study.space,
        "created": study.created,
    }


def summary_json(summary: StudySummary) -> dict:
    return {
        **study_json(summary.study),
        "trials": summary.trials,
        "states": {state.value: n for state, n in summary.states.items()},
        "best": summary.best,
        "live": summary.running,
    }


def studies_list(request: Request) -> list[dict]:
    store = store_of(request)
    return [summary_json(s) for s in summarize(store, list_studies(store))]


def studies_api(request: Request) -> Response:
    return api(studies_list(request))


def studies_page(request: Request) -> Response:
    return page(request, "studies.html", studies=studies_list(request))


def study_data(request: Request) -> dict:
    """Study `name` (its latest version, or ?version=): every trial, the states counted, the
    best trial, the best value after each completed trial, and the params to plot."""
    store = store_of(request)
    name = request.path_params["name"]
    version = query_int(request, "version", 0, 1, 2**31 - 1) or None
    study = find_study(store, name, version)
    latest = study.version if version is None else find_study(store, name).version
    trials = load_trials(store, study)
    done = [t for t in trials if t.state is TrialState.COMPLETED and _finite(t.value)]
    pick = max if study.mode is Direction.MAX else min
    best = pick(done, key=lambda t: t.value, default=None)
    counts = {state.value: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.value] += 1
    return {
        "study": study_json(study),
        "latest_version": latest,
        "live": counts[TrialState.RUNNING.value] > 0,
        "refresh_ms": REFRESH_MS,
        "states": counts,
        "best": None if best is None else trial_json(best),
        "params": _params(trials),
        "best_so_far": _best_so_far(done, study.mode),
        "trials": [trial_json(t) for t in trials],
    }


def trial_json(trial: TrialRecord) -> dict:
    return {
        "number": trial.number,
        "state": trial.state.value,
        "value": trial.value,
        "params": trial.params,
        "run_id": trial.run_id,
        "started": trial.started,
        "ended": trial.ended,
        "duration": trial.duration,
    }


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _best_so_far(done: list[TrialRecord], mode: Direction) -> dict[str, list]:
    """For each completed trial by number: its value and the best value up to it."""
    numbers, values, best = [], [], []
    for trial in done:
        numbers.append(trial.number)
        values.append(trial.value)
        best.append(trial.value if not best else mode.best([best[-1], trial.value]))
    return {"number": numbers, "value": values, "best": best}


def _params(trials: list[TrialRecord]) -> list[dict]:
    """Each param the trials have, numeric or categorical by its values, on a log scale if
    it was drawn on one; drawn numeric ones first, as the first is the one plotted."""
    found: dict[str, dict] = {}
    for trial in trials:
        for name, value in trial.params.items():
            entry = found.setdefault(
                name, {"name": name, "numeric": True, "log": False, "drawn": False}
            )
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            entry["numeric"] = entry["numeric"] and is_number
            if name in trial.distributions and not entry["drawn"]:
                entry["drawn"] = True
                entry["log"] = _log_scale(trial.distributions[name])
    return sorted(found.values(), key=lambda p: (not p["drawn"], not p["numeric"], p["name"]))


def _log_scale(distribution: object) -> bool:
    """Whether Optuna's JSON for a distribution says it was drawn on a log scale."""
    try:
        described = json.loads(distribution) if isinstance(distribution, str) else distribution
        return bool(described.get("attributes", {}).get("log", False))
    except (ValueError, AttributeError):
        return False


def study_api(request: Request) -> Response:
    return api(study_data(request))


def study_page(request: Request) -> Response:
    return page(request, "study.html", data=study_data(request))


def routes() -> list[Route]:
    return [
        Route("/studies", studies_page),
        Route("/studies/{name}", study_page),
        Route("/api/studies", studies_api),
        Route("/api/studies/{name}", study_api),
    ]
