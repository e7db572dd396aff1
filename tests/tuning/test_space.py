"""Search spaces: what is accepted, what is refused and how, and how spaces compare."""

from __future__ import annotations

import optuna
import pytest

import cairn
from cairn.errors import InvalidValueError
from cairn.tuning.space import Space


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: cairn.uniform(1, 1), "low < high"),
        (lambda: cairn.uniform("a", 2), "needs numbers"),
        (lambda: cairn.uniform(0, float("inf")), "finite"),
        (lambda: cairn.loguniform(0, 1), "0 < low"),
        (lambda: cairn.randint(5, 5), "high is excluded"),
        (lambda: cairn.randint(0.5, 2), "integers"),
        (lambda: cairn.choice([]), "at least one"),
        (lambda: cairn.choice("abc"), "list of values"),
        (lambda: cairn.grid([object()]), "numbers, strings"),
        (lambda: Space({}), "space is empty"),
        (lambda: Space({"lr": [0.1, 0.2]}), "cairn.choice"),
        (lambda: Space(42), "must be a dict"),
    ],
)
def test_bad_spaces_are_refused_with_a_message(make, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        make()


def test_a_dict_space_draws_every_parameter_through_the_sampler() -> None:
    space = Space(
        {
            "lr": cairn.loguniform(1e-4, 1e-1),
            "layers": cairn.randint(1, 4),
            "act": cairn.choice(["relu", "tanh"]),
            "x": cairn.uniform(-1, 1),
            "seed": 7,
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        params = space.draw(trial)
        assert 1e-4 <= params["lr"] <= 1e-1
        assert params["layers"] in (1, 2, 3)  # randint's high is excluded
        assert params["act"] in ("relu", "tanh")
        assert -1 <= params["x"] <= 1
        assert params["seed"] == 7
        assert set(trial.distributions) == {"lr", "layers", "act", "x"}  # constants are not
        study.tell(trial, 0.0)


def test_a_function_space_draws_conditional_parameters() -> None:
    def space(t):
        kind = t.choice("kind", ["svc", "tree"])
        if kind == "svc":
            t.loguniform("C", 1e-3, 1e3)
        else:
            t.randint("depth", 1, 10)

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(30):
        params = Space(space).draw(study.ask())
        seen.add(params["kind"])
        assert set(params) == ({"kind", "C"} if params["kind"] == "svc" else {"kind", "depth"})
    assert seen == {"svc", "tree"}


def test_grid_points_are_every_combination() -> None:
    space = Space({"a": cairn.grid([1, 2, 3]), "b": cairn.grid(["x", "y"]), "c": 0.5})
    points = space.grid_points()
    assert len(points) == 6
    assert {(p["a"], p["b"]) for p in points} == {(a, b) for a in (1, 2, 3) for b in "xy"}


def test_fingerprints_tell_spaces_apart() -> None:
    base = Space({"x": cairn.uniform(0, 1)})
    assert base.fingerprint() == Space({"x": cairn.uniform(0, 1)}).fingerprint()
    assert base.fingerprint() != Space({"x": cairn.uniform(0, 2)}).fingerprint()
    assert base.fingerprint() != Space({"y": cairn.uniform(0, 1)}).fingerprint()
    assert base.fingerprint() != Space({"x": cairn.loguniform(0.1, 1)}).fingerprint()
