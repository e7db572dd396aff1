"""A logged param does not change (MLflow's contract): logging the same value again is fine,
another value is a ParamChangedError that says which, and nothing of that call is kept."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import cairn
from cairn.errors import CairnError, ParamChangedError
from cairn.tracking.start import attach_run

DATABASES = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@DATABASES
def test_the_same_value_again_is_fine(backend: str) -> None:
    with cairn.start_run("same", params={"lr": 0.1, "opt": "adam"}) as run:
        run.log_params({"lr": 0.1, "opt": "adam", "layers": [64, 32]})
        run.log_params({"lr": np.float64(0.1), "layers": (64, 32)})  # the same JSON values
        run.log_params({})
    assert cairn.get_run(run.id).params == {"lr": 0.1, "opt": "adam", "layers": [64, 32]}


@DATABASES
def test_another_value_is_an_error_naming_the_param_and_both_values(backend: str) -> None:
    with cairn.start_run("changed", params={"lr": 0.1}) as run:
        run.log_params({"opt": "adam"})
        with pytest.raises(ParamChangedError) as raised:
            run.log_params({"lr": 0.2, "opt": "sgd", "new": 1})
    message = str(raised.value)
    assert "a logged param does not change" in message and run.id in message
    assert "'lr' is 0.1, not 0.2" in message and '\'opt\' is "adam", not "sgd"' in message
    # Nothing of the refused call was kept, not even its new key.
    assert cairn.get_run(run.id).params == {"lr": 0.1, "opt": "adam"}


@DATABASES
def test_a_value_of_another_type_is_another_value(backend: str) -> None:
    # As in MLflow, which logs str(value): 1 and 1.0, or 1 and "1", are different params.
    with cairn.start_run("types", params={"n": 1, "s": "1"}) as run:
        for change in ({"n": 1.0}, {"n": "1"}, {"s": 1}, {"n": True}):
            with pytest.raises(ParamChangedError):
                run.log_params(change)
    assert cairn.get_run(run.id).params == {"n": 1, "s": "1"}


def test_the_error_is_cairns_and_a_value_error(workspace) -> None:
    with cairn.start_run("kinds", params={"a": 1}) as run:
        with pytest.raises(CairnError):
            run.log_params({"a": 2})
        with pytest.raises(ValueError):
            run.log_params({"a": 3})


@DATABASES
def test_of_two_writers_logging_one_new_param_at_once_one_is_refused(backend: str) -> None:
    # Two threads log the same new key into one run with different values: whichever lands
    # first is the run's param, and the other hears of it, whatever the interleaving.
    run = cairn.start_run("race", activate=False)
    start = threading.Barrier(2)
    outcomes: dict[int, BaseException | None] = {}

    def log(value: int) -> None:
        with attach_run(run.store, run.id, run.name, run.experiment, None) as attached:
            start.wait()
            try:
                attached.log_params({"seed": value})
                outcomes[value] = None
            except ParamChangedError as exc:
                outcomes[value] = exc

    threads = [threading.Thread(target=log, args=(value,)) for value in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.end()
    kept = cairn.get_run(run.id).params["seed"]
    assert outcomes[kept] is None
    assert isinstance(outcomes[3 - kept], ParamChangedError)
