"""The RISECamp flow: a policy trained in parallel with Evolution Strategies, its
hyperparameters tuned, the best one registered behind a release gate, and served to
authorized clients only.

Every step is cairn's public API: `cairn.rl.es` on an executor, `cairn.tune`, the registry
with a custom gate, `cairn serve` with `--auth` and tokens granted, attenuated and revoked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import numpy as np

import cairn
from cairn import models
from cairn.auth import attenuate, grant, init, public_key, revoke
from cairn.errors import AuthError, CairnError
from cairn.models.gates import custom
from cairn.rl.environments import make_env
from cairn.serve.background import serving
from cairn.serve.settings import ServeSettings

ENV = "CartPole-v1"
SOLVED = 475.0  # CartPole-v1's own threshold, over 100 episodes
EXPERIMENT = "cartpole"
STUDY = "cartpole-es"
MODEL = "policy"
ALIAS = "production"
REVOCATION_SECONDS = 2.0


@dataclass(frozen=True)
class Size:
    trials: int
    tune_iterations: int
    iterations: int
    seed: int


QUICK = Size(trials=2, tune_iterations=2, iterations=60, seed=1)
FULL = Size(trials=6, tune_iterations=8, iterations=150, seed=1)


@dataclass(frozen=True)
class RLDemo:
    study: cairn.TuneResult
    best_params: dict
    result: cairn.rl.ESResult
    version: models.ModelVersion
    url: str
    action: object  # the endpoint's answer to the sample observation
    refused_without_token: int  # the HTTP status of a request without one
    refused_after_revocation: int
    revoked_within: float  # seconds from revoking the device's token to its first refusal


def tune_es(size: Size) -> cairn.TuneResult:
    """Search ES's step size, noise scale and population on short trainings, every trial a
    run."""

    def objective(trial) -> float:
        result = cairn.rl.es(
            ENV, executor="thread", seed=size.seed, run=trial.run,
            iterations=size.tune_iterations, eval_episodes=10,
            step_size=trial.params["step_size"], sigma=trial.params["sigma"],
            population=trial.params["population"],
        )  # fmt: skip
        return result.mean_return

    space = {
        "step_size": cairn.loguniform(0.03, 0.3),
        "sigma": cairn.loguniform(0.03, 0.3),
        "population": cairn.choice([16, 20, 32]),  # antithetic pairs: even sizes
    }
    return cairn.tune(
        objective, space, "mean_return", "max", n_trials=size.trials, executor="thread",
        max_concurrent=1, name=STUDY, experiment=f"{EXPERIMENT}-tune", resume=False, seed=0,
    )  # fmt: skip


def rl_demo(quick: bool = False) -> RLDemo:
    """Train, tune, register, gate and serve a CartPole-v1 policy; query it with a token,
    without one, and after revoking a device's narrowed token."""
    size = QUICK if quick else FULL
    study = tune_es(size)
    best = dict(study.best_trial.params)
    result = cairn.rl.es(
        ENV, executor="thread", seed=size.seed, target=SOLVED, iterations=size.iterations,
        experiment=EXPERIMENT, name="es", **best,
    )  # fmt: skip
    if not result.solved:
        raise CairnError(
            f"ES reached a mean return of {result.mean_return:.1f}, short of {SOLVED}: "
            "run `cairn demo` again without --quick for a longer training"
        )
    examples = _observations(4)
    version = models.register(
        MODEL, result.policy, owner="rl-team", run=result.run.id, example=examples,
        description=f"ES policy for {ENV}",
    )  # fmt: skip
    if not models.list_gates(MODEL, ALIAS):  # a demo run again keeps its one gate
        models.add_gate(
            MODEL, ALIAS,
            custom("cairn.demo.gates:mean_return", env_id=ENV, episodes=100, minimum=SOLVED),
        )  # fmt: skip
    models.set_alias(MODEL, ALIAS, version.version)  # the gate runs: 100 episodes
    _ensure_root_key()
    with serving(ServeSettings((f"{MODEL}@{ALIAS}",), auth=True, sample=1.0)) as url:
        token = grant("demo-client", [f"predict:model/{MODEL}"], ttl="1h")
        device = attenuate(token, [f"predict:model/{MODEL}"], ttl="10m", subject="device-7")
        observation = examples[:1].tolist()
        answer = _predict(url, observation, token)
        answer.raise_for_status()
        _predict(url, observation, device).raise_for_status()
        without = _predict(url, observation, None).status_code
        revoke(device, reason="the demo's device was lost")
        revoked_at = time.monotonic()
        while (after := _predict(url, observation, device).status_code) == 200:
            if time.monotonic() - revoked_at > 10 * REVOCATION_SECONDS:
                raise CairnError("the server still accepts a revoked token")
        within = time.monotonic() - revoked_at
    return RLDemo(
        study, best, result, version, url, answer.json()["predictions"][0], without, after, within
    )


def _observations(n: int) -> np.ndarray:
    env = make_env(ENV)
    rows = [env.reset(seed=seed)[0] for seed in range(n)]
    env.close()
    return np.asarray(rows, dtype=np.float32)


def _ensure_root_key() -> None:
    try:
        public_key()
    except AuthError:
        init()


def _predict(url: str, observation: list, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.post(
        f"{url}/v1/models/{MODEL}/predict", json={"inputs": observation}, headers=headers
    )
