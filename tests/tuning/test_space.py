"""Search spaces: what is accepted, what is refused and how, what each space draws, and how
spaces compare."""

from __future__ import annotations

import statistics

import optuna
import pytest

import cairn
from cairn import tuning
from cairn.errors import InvalidValueError
from cairn.tuning.space import Space


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: cairn.uniform(1, 1), "low < high, got low=1.0, high=1.0"),
        (lambda: cairn.uniform("a", 2), "number for low, got low='a'"),
        (lambda: cairn.uniform(0, float("inf")), "finite high"),
        (lambda: cairn.uniform(0, 1, step=0), "step > 0"),
        (lambda: cairn.uniform(0, 1, step=2), "step=2.0 is larger than high - low"),
        (lambda: tuning.quniform(0, 1, -0.1), "quniform needs q > 0"),
        (lambda: cairn.loguniform(0, 1), "0 < low"),
        (lambda: cairn.randint(5, 5), "high is excluded"),
        (lambda: cairn.randint(0.5, 2), "integer bounds, got low=0.5"),
        (lambda: cairn.randint(0, 10, step=0), "positive integer step, got step=0"),
        (lambda: cairn.randint(0, 10, step=1.5), "positive integer step, got step=1.5"),
        (lambda: cairn.randint(0, 10, step=20), "step=20 is larger than the range"),
        (lambda: cairn.randint(0, 10, log=True), "1 <= low for a log scale, got low=0"),
        (lambda: cairn.randint(1, 10, step=2, log=True), "cannot also have a step"),
        (lambda: cairn.randint(1, 10, log="yes"), "log must be True or False"),
        (lambda: tuning.lograndint(0, 1024), "lograndint needs 1 <= low"),
        (lambda: tuning.qrandint(0, 100, 0), "positive integer q, got q=0"),
        (lambda: tuning.qrandint(5, 5, 1), "high is included"),
        (lambda: tuning.randn(0, 0), "randn needs sd > 0, got sd=0.0"),
        (lambda: tuning.randn(float("nan"), 1), "finite mean"),
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


def _draws(space: Space, sampler: optuna.samplers.BaseSampler, n: int) -> list[dict]:
    """`n` draws, each trial told a value so a model-based sampler has something to fit."""
    study = optuna.create_study(sampler=sampler)
    drawn = []
    for _ in range(n):
        trial = study.ask()
        params = space.draw(trial).params
        study.tell(trial, float(sum(v for v in params.values() if isinstance(v, int | float))))
        drawn.append(params)
    return drawn


def _on_grid(value: float, low: float, step: float) -> bool:
    return round((value - low) / step, 9).is_integer()


SUPPORTS = {
    "lograndint": (tuning.lograndint(1, 1024), int, lambda v: 1 <= v <= 1023),
    "randint_log": (cairn.randint(2, 50, log=True), int, lambda v: 2 <= v <= 49),
    "qrandint": (tuning.qrandint(0, 100, 5), int, lambda v: 0 <= v <= 100 and v % 5 == 0),
    "randint_step": (cairn.randint(3, 30, step=4), int, lambda v: 3 <= v <= 27 and v % 4 == 3),
    "quniform": (
        tuning.quniform(0, 1, 0.1),
        float,
        lambda v: 0 <= v <= 1 and v == round(v, 1),  # 0.3, not 0.30000000000000004
    ),
    "uniform_step": (
        cairn.uniform(-1, 1, step=0.25),
        float,
        lambda v: -1 <= v <= 1 and _on_grid(v, -1, 0.25),
    ),
    "uniform_uneven_step": (  # 0.3 does not divide 1: the last value is 0.9
        cairn.uniform(0, 1, step=0.3),
        float,
        lambda v: v in (0.0, 0.3, 0.6, 0.9),
    ),
    "randn": (tuning.randn(5, 2), float, lambda v: -20 < v < 30),
}


@pytest.mark.parametrize("sampler", ["random", "tpe"])
@pytest.mark.parametrize("kind", list(SUPPORTS))
def test_each_space_draws_values_in_its_support_of_its_type(kind: str, sampler: str) -> None:
    dist, kind_type, inside = SUPPORTS[kind]
    chosen = (
        optuna.samplers.RandomSampler(seed=0)
        if sampler == "random"
        else optuna.samplers.TPESampler(seed=0, n_startup_trials=5)
    )
    values = [p["v"] for p in _draws(Space({"v": dist}), chosen, 60)]
    assert all(type(v) is kind_type for v in values)
    outside = [v for v in values if not inside(v)]
    assert not outside
    assert len(set(values)) > 3  # it varies


def test_quantized_ranges_reach_their_top_and_stepped_randint_stays_below_high() -> None:
    random = optuna.samplers.RandomSampler(seed=1)
    tops = [p["q"] for p in _draws(Space({"q": tuning.qrandint(0, 100, 5)}), random, 300)]
    assert max(tops) == 100 and set(tops) <= set(range(0, 101, 5))
    below = [p["s"] for p in _draws(Space({"s": cairn.randint(0, 100, step=5)}), random, 300)]
    assert max(below) == 95
    floats = [p["f"] for p in _draws(Space({"f": tuning.quniform(0, 1, 0.1)}), random, 300)]
    assert set(floats) == {k / 10 for k in range(11)}


def test_a_log_scaled_integer_skews_small() -> None:
    values = [
        p["n"]
        for p in _draws(
            Space({"n": tuning.lograndint(1, 1024)}), optuna.samplers.RandomSampler(seed=2), 400
        )
    ]
    # log-uniform on [1, 1024): half the mass below 32; a uniform integer puts 3% there
    below = sum(v < 32 for v in values) / len(values)
    assert 0.4 < below < 0.6
    assert statistics.median(values) < 64


def test_randn_has_its_mean_and_sd() -> None:
    values = [
        p["z"]
        for p in _draws(
            Space({"z": tuning.randn(5, 2)}), optuna.samplers.RandomSampler(seed=3), 2000
        )
    ]
    assert statistics.fmean(values) == pytest.approx(5, abs=0.2)
    assert statistics.stdev(values) == pytest.approx(2, abs=0.2)
    assert min(values) < 5 - 2 * 2 and max(values) > 5 + 2 * 2  # tails, not a clipped range


def test_a_dict_space_draws_every_parameter_through_the_sampler() -> None:
    space = Space(
        {
            "lr": cairn.loguniform(1e-4, 1e-1),
            "layers": cairn.randint(1, 4),
            "act": cairn.choice(["relu", "tanh"]),
            "x": cairn.uniform(-1, 1),
            "z": tuning.randn(0, 1),
            "seed": 7,
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        drawn = space.draw(trial)
        params = drawn.params
        assert 1e-4 <= params["lr"] <= 1e-1
        assert params["layers"] in (1, 2, 3)  # randint's high is excluded
        assert params["act"] in ("relu", "tanh")
        assert -1 <= params["x"] <= 1
        assert params["seed"] == 7
        assert set(trial.distributions) == {"lr", "layers", "act", "x", "z"}  # not constants
        assert set(drawn.distributions) == set(trial.distributions)
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
        params = Space(space).draw(study.ask()).params
        seen.add(params["kind"])
        assert set(params) == ({"kind", "C"} if params["kind"] == "svc" else {"kind", "depth"})
    assert seen == {"svc", "tree"}


def test_a_function_space_has_every_kind_and_names_the_parameter_it_refuses() -> None:
    def space(t):
        t.randint("n", 1, 1024, log=True)
        t.lograndint("m", 1, 64)
        t.randint("k", 0, 20, step=5)
        t.qrandint("q", 0, 100, 25)
        t.uniform("x", 0, 1, step=0.1)
        t.quniform("y", 0, 2, 0.5)
        t.randn("z", 0, 1)

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=4))
    for _ in range(40):
        params = Space(space).draw(study.ask()).params
        assert 1 <= params["n"] <= 1023 and 1 <= params["m"] <= 63
        assert params["k"] in (0, 5, 10, 15) and params["q"] in (0, 25, 50, 75, 100)
        assert params["x"] == round(params["x"], 1) and params["y"] in (0, 0.5, 1, 1.5, 2)
        assert isinstance(params["z"], float)

    def bad(t):
        t.uniform("lr", 1, 0)

    with pytest.raises(InvalidValueError, match="parameter 'lr': uniform needs low < high"):
        Space(bad).draw(study.ask())


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
    stepped = Space({"x": cairn.uniform(0, 1, step=0.1)}).fingerprint()
    assert stepped == Space({"x": tuning.quniform(0, 1, 0.1)}).fingerprint()
    assert stepped != base.fingerprint()
    logint = Space({"n": tuning.lograndint(1, 100)}).fingerprint()
    assert logint == Space({"n": cairn.randint(1, 100, log=True)}).fingerprint()
    assert logint != Space({"n": cairn.randint(1, 100)}).fingerprint()
    assert Space({"z": tuning.randn(0, 1)}).fingerprint() != (
        Space({"z": tuning.randn(0, 2)}).fingerprint()
    )


def test_a_space_of_the_old_kinds_is_described_as_before_so_its_studies_resume() -> None:
    """Studies stored before step, log and randn existed keep their fingerprint."""
    space = Space({"x": cairn.uniform(0, 1), "n": cairn.randint(1, 4), "c": cairn.choice([1])})
    assert space.describe() == (
        '{"c": {"kind": "choice", "options": [1]}, '
        '"n": {"high": 4, "kind": "randint", "low": 1}, '
        '"x": {"high": 1.0, "kind": "uniform", "low": 0.0}}'
    )
