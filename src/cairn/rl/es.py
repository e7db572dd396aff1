"""`cairn.rl.es`: Evolution Strategies (Salimans et al. 2017) on gymnasium environments, with
rollouts on a cairn executor's actors.

    result = cairn.rl.es("CartPole-v1", executor=cairn.executor("local", workers=2),
                         seed=0, target=475)
    result.mean_return, result.policy(observation), result.run.id

Each iteration draws `population / 2` noise indices and episode seeds from the training's
generator, has the actors run each perturbation and its mirror image, ranks the returns,
and steps the parameters along the antithetic gradient estimate. Everything random comes
from that one generator and the noise table of the same seed, and an episode depends only
on its parameters and seed: the same seed gives the same history on any executor, with any
number of workers.

Each iteration also runs the unperturbed policy for `center_episodes` episodes in the same
batch. With a `target`, an iteration whose center reaches it has that policy evaluated over
`eval_episodes` new episodes (in rounds, given up once the mean so far falls short), and
the training stops when the evaluation reaches the target too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace

import numpy as np

from cairn.compute import Executor, ExecutorOptions
from cairn.compute import executor as make_executor
from cairn.rl.checkpoints import (
    RESUMED_FROM,
    TrainingState,
    load_checkpoint,
    resumable_run,
    save_checkpoint,
)
from cairn.rl.environments import make_env
from cairn.rl.fleet import Fleet, fleet_for
from cairn.rl.gradient import antithetic_gradient
from cairn.rl.history import Iteration
from cairn.rl.noise import DEFAULT_SIZE, NoiseTable
from cairn.rl.normalization import ObservationStats
from cairn.rl.optimizers import OptimizerKind, make_optimizer
from cairn.rl.policies import DEFAULT_HIDDEN, Architecture, Policy, PolicyKind, architecture_for
from cairn.rl.result import ESResult
from cairn.rl.settings import ESSettings
from cairn.rl.shaping import centered_ranks
from cairn.rl.workers import Population, Scenario
from cairn.store import Store, get_store
from cairn.tracking import Run, get_run, start_run
from cairn.tracking.artifacts import record_input
from cairn.tracking.start import DEFAULT_EXPERIMENT

# The artifact the trained policy is saved as: not "policy", which the registry keeps free
# for a model of that name (a name holds artifacts of one kind).
POLICY = "es-policy"
SEED_LIMIT = 2**31 - 1  # episode seeds: any int gymnasium takes
EVAL_ROUNDS = 4  # an evaluation against a target runs in this many rounds


def es(
    env_id: str,
    *,
    executor: Executor | ExecutorOptions | str | None = None,
    workers: int | None = None,
    policy: PolicyKind | str = PolicyKind.LINEAR,
    hidden: tuple[int, ...] = DEFAULT_HIDDEN,
    seed: int = 0,
    target: float | None = None,
    iterations: int = 100,
    population: int = 20,
    sigma: float = 0.1,
    step_size: float = 0.1,
    optimizer: OptimizerKind | str = OptimizerKind.ADAM,
    weight_decay: float = 0.005,
    episodes_per_eval: int = 1,
    eval_episodes: int = 100,
    center_episodes: int = 5,
    normalize: bool = True,
    noise_size: int = DEFAULT_SIZE,
    checkpoint_every: int = 10,
    run: Run | None = None,
    experiment: str | None = None,
    name: str = "es",
    resume: str | bool | None = None,
    on_iteration: Callable[[Iteration], None] | None = None,
) -> ESResult:
    """Train a `policy` ("linear" or "mlp", with `hidden` layers) for gymnasium's `env_id`.

    executor: an executor, an executor URL ("local", "thread", "ray"; made and shut down
        here) or None for "local"; `workers` rollout actors run on it (by default as many
        as it has workers). The actors live as long as the executor (an executor has no
        way to stop one actor): a given executor keeps them after the training, until it
        shuts down. An actor holds a CPU of a Ray cluster while it lives; pass
        `ex.options(resources={"cpus": 0})` for actors that hold none (a training started
        inside a Ray task, whose CPU its actors would otherwise wait for).
    population: perturbed policies per iteration (even: antithetic pairs), each run for
        `episodes_per_eval` episodes; `sigma` is the noise's scale, `step_size` the
        optimizer's ("adam" or "sgd" with momentum), `weight_decay` an L2 pull to zero.
    target: stop once the policy's mean return over `eval_episodes` episodes reaches it
        (evaluated when its `center_episodes` run with each population reach it);
        `iterations` bounds the training either way.
    run: log into this open run (it is left open); otherwise a run called `name` is started
        in `experiment` and ended here.
    checkpoint_every: iterations between checkpoints (artifacts of the run).
    resume: a run id, to go on from that run's last checkpoint; True, to go on from the
        newest run called `name` in `experiment` that stopped before its end (or start
        afresh if there is none). The settings must be those of the stopped training, but
        for iterations, target, eval_episodes and checkpoint_every.
    on_iteration: called with each iteration's `Iteration` once it is logged (a tuning
        objective can report its return there).
    """
    settings = ESSettings(
        env_id=env_id, policy=policy, hidden=hidden, seed=seed, iterations=iterations,
        population=population, sigma=sigma, step_size=step_size, optimizer=optimizer,
        weight_decay=weight_decay, episodes_per_eval=episodes_per_eval,
        eval_episodes=eval_episodes, center_episodes=center_episodes, normalize=normalize,
        noise_size=noise_size, target=target, checkpoint_every=checkpoint_every,
    )  # fmt: skip
    store = run.store if run is not None else get_store()
    origin = _origin(store, resume, experiment or DEFAULT_EXPERIMENT, name)
    checkpoint = None
    if origin is not None:
        state, checkpoint = load_checkpoint(store, origin)
        settings.check_resumes(state.settings)
        state.settings = settings
        if run is None and experiment is None:
            experiment = get_run(origin, store=store).experiment
    architecture = _architecture(settings)
    if checkpoint is None:
        state = _fresh(settings, architecture)
    scenario = Scenario(env_id, architecture, NoiseTable(settings.seed, settings.noise_size))
    with (
        _executor(executor, workers) as pool,
        _run(run, name, experiment, settings, origin, pool, workers) as live,
    ):
        if checkpoint is not None:
            record_input(store, live.id, checkpoint)
            for done in state.history:  # the resumed run carries the whole curve
                live.log(done.metrics(), step=done.number)
        trainer = _Trainer(state, fleet_for(pool, workers or pool.workers, scenario))
        returns = _train(trainer, live, on_iteration)
        trained = trainer.policy()
        live.save(POLICY, trained, kind="policy")
        live.log({"mean_return": float(np.mean(returns))}, step=state.iteration)
    return ESResult(
        mean_return=float(np.mean(returns)),
        returns=tuple(float(r) for r in returns),
        policy=trained,
        run=get_run(live.id, store=store),
        iterations=state.iteration,
        history=list(state.history),
        target=target,
    )


def _train(
    trainer: _Trainer, run: Run, on_iteration: Callable[[Iteration], None] | None
) -> np.ndarray:
    """Iterate until the target or the last iteration; the final policy's evaluation
    returns."""
    state, settings = trainer.state, trainer.state.settings
    saved_at = state.iteration
    returns = None
    while state.iteration < settings.iterations and returns is None:
        done, returns = trainer.iterate()
        state.history.append(done)
        run.log(done.metrics(), step=done.number)
        if on_iteration is not None:
            on_iteration(done)
        if state.iteration % settings.checkpoint_every == 0:
            save_checkpoint(run, state)
            saved_at = state.iteration
    if saved_at != state.iteration:
        save_checkpoint(run, state)
    return trainer.evaluate(settings.eval_episodes) if returns is None else returns


class _Trainer:
    """One training's iterations: the state, the actors, and the update."""

    def __init__(self, state: TrainingState, fleet: Fleet) -> None:
        self.state = state
        self._fleet = fleet
        self._noise = fleet.scenario.noise
        self._architecture = fleet.scenario.architecture

    def iterate(self) -> tuple[Iteration, np.ndarray | None]:
        """Run the population (and the center) around the current parameters and step
        them, or stop: the iteration, and the evaluation's returns if the current policy
        reached the target."""
        state, settings = self.state, self.state.settings
        dim = len(state.params)
        indices = self._noise.sample_indices(state.rng, settings.pairs, dim)
        seeds = state.rng.integers(0, SEED_LIMIT, size=(settings.pairs, settings.episodes_per_eval))
        center_seeds = state.rng.integers(0, SEED_LIMIT, size=settings.center_episodes)
        mean, std = self._normalization()
        started = time.perf_counter()
        work = Population(
            self._fleet.scenario, state.params, settings.sigma, indices, seeds, center_seeds,
            mean, std, observe=settings.normalize,
        )  # fmt: skip
        population, center = self._fleet.perturbed(work)
        seconds = time.perf_counter() - started
        done = Iteration(
            number=state.iteration,
            return_mean=float(population.returns.mean()),
            return_max=float(population.returns.max()),
            return_min=float(population.returns.min()),
            episodes=int(population.returns.size + center.returns.size),
            env_steps=int(population.lengths.sum() + center.lengths.sum()),
            seconds=seconds,
            center_return=float(center.returns.mean()) if center.returns.size else None,
        )
        judged = done.return_mean if done.center_return is None else done.center_return
        if settings.target is not None and judged >= settings.target:
            returns = self.evaluate(settings.eval_episodes, settings.target)
            done = replace(done, eval_return=float(returns.mean()))
            if returns.size == settings.eval_episodes and done.eval_return >= settings.target:
                return done, returns
        fitness = population.returns.mean(axis=2)  # (2, pairs): plus, minus
        shaped = centered_ranks(fitness)
        gradient = antithetic_gradient(
            self._noise.rows(indices, dim), shaped[0], shaped[1], settings.sigma
        )
        gradient -= settings.weight_decay * state.params
        state.params = state.params + state.optimizer.step(gradient)
        if state.observations is not None:
            size = state.observations.size
            state.observations.add(
                float(population.lengths.sum()),
                population.obs_total.reshape(-1, size).sum(axis=0),
                population.obs_total_sq.reshape(-1, size).sum(axis=0),
            )
        return done, None

    def evaluate(self, episodes: int, target: float | None = None) -> np.ndarray:
        """The current policy's return in each of `episodes` new episodes. With a target,
        they run in rounds, and the evaluation stops early (fewer returns) once the mean so
        far falls short of it: most policies that fail, fail in the first round."""
        seeds = self.state.rng.integers(0, SEED_LIMIT, size=episodes)
        mean, std = self._normalization()
        rounds = 1 if target is None else EVAL_ROUNDS
        returns = np.empty(0)
        for share in np.array_split(seeds, rounds):
            ran = self._fleet.evaluate(self.state.params, share, mean, std)
            returns = np.concatenate([returns, ran.returns])
            if target is not None and returns.mean() < target:
                break
        return returns

    def policy(self) -> Policy:
        mean, std = self._normalization()
        return self._architecture.policy(self.state.params, mean, std)

    def _normalization(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        stats = self.state.observations
        return (None, None) if stats is None else (stats.mean, stats.std)


def _architecture(settings: ESSettings) -> Architecture:
    env = make_env(settings.env_id)
    try:
        return architecture_for(
            env.observation_space, env.action_space, settings.policy, settings.hidden
        )
    finally:
        env.close()


def _fresh(settings: ESSettings, architecture: Architecture) -> TrainingState:
    rng = np.random.default_rng(settings.seed)
    size = architecture.observation_size
    return TrainingState(
        settings=settings,
        params=architecture.network.initial(rng),
        optimizer=make_optimizer(settings.optimizer, settings.step_size),
        rng=rng,
        observations=ObservationStats(size) if settings.normalize else None,
    )


def _origin(store: Store, resume: str | bool | None, experiment: str, name: str) -> str | None:
    """The run whose last checkpoint this training goes on from, if any."""
    if resume is None or resume is False:
        return None
    if resume is True:
        return resumable_run(store, experiment, name)
    return get_run(resume, store=store).id


@contextmanager
def _executor(
    executor: Executor | ExecutorOptions | str | None, workers: int | None
) -> Iterator[Executor | ExecutorOptions]:
    if isinstance(executor, Executor | ExecutorOptions):
        yield executor
        return
    with make_executor(executor or "local", workers) as owned:
        yield owned


def _run(
    run: Run | None,
    name: str,
    experiment: str | None,
    settings: ESSettings,
    origin: str | None,
    pool: Executor | ExecutorOptions,
    workers: int | None,
) -> Run | nullcontext:
    params = {**settings.as_params(), "executor": pool.url, "workers": workers or pool.workers}
    tags = {"cairn.rl.env": settings.env_id}
    if origin is not None:
        tags[RESUMED_FROM] = origin
    if run is None:
        return start_run(name, experiment=experiment, params=params, tags=tags)
    run.log_params(params)
    run.set_tags(tags)
    return nullcontext(run)
