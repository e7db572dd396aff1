"""Evolution Strategies on CartPole-v1: the wall time to solve it (mean return over 100
evaluation episodes at least 475) with 1 and 2 local workers and with 2 actors on a local
Ray; and the environment steps per second a worker gets, against a plain single-process
gymnasium loop over the same environment and policy.

Every solve trains from the same seed, and an ES history does not depend on the executor or
the number of workers, so each case runs the very same iterations: the times differ only by
how the rollouts are run. A solve is timed from the call of `cairn.rl.es` (the actors'
start included) to its result, on an executor made beforehand; Ray is started once, before
the rounds. Steps per second are measured on one workload for every row: episodes of the
solved policy, 40 per worker, in one call per worker (the executor's round trip included).
Each round also probes how much CPU the machine gives this run: 1 and 2 processes spin for
a second. The cases run alternately, round by round; the tables have medians and the
spread (the slowest round over the fastest).
Run: python benchmarks/bench_rl.py [--rounds 5] [--seed 0] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium
import numpy as np
from _report import report

import cairn
import cairn.rl
from cairn.rl.fleet import fleet_for

ENV = "CartPole-v1"
TARGET = 475.0
EPISODES_PER_WORKER = 40
PLAIN_STEPS = 20_000
SPIN = (
    "import time\nend = time.perf_counter() + 1.0\nwhile time.perf_counter() < end: pass\n"
    "print(time.process_time())"
)


def solve(url: str, workers: int, seed: int) -> tuple[float, float, cairn.rl.ESResult]:
    """Seconds from the call to the solved result, on an executor made beforehand, and of
    them the start: until the first iteration's rollouts (the run, the actors)."""
    first: list[float] = []

    def note_first(done: cairn.rl.Iteration) -> None:
        if not first:
            first.append(time.perf_counter() - done.seconds)

    with cairn.executor(url, workers=workers) as ex:
        started = time.perf_counter()
        result = cairn.rl.es(
            ENV, executor=ex, seed=seed, target=TARGET, iterations=200, on_iteration=note_first
        )
        elapsed = time.perf_counter() - started
    if not result.solved:
        raise SystemExit(f"{url} x{workers} did not solve {ENV}: {result.mean_return:.1f}")
    return elapsed, first[0] - started, result


def on_actors(url: str, workers: int, policy: cairn.rl.Policy) -> float:
    """Steps per second per worker of `workers` actors each running its share of the
    episodes, measured from the call to the returns (the actors already started)."""
    scenario = cairn.rl.Scenario(ENV, policy.architecture, cairn.rl.NoiseTable(0, 1))
    seeds = np.arange(EPISODES_PER_WORKER * workers)
    with cairn.executor(url, workers=workers) as ex:
        fleet = fleet_for(ex, workers, scenario)
        fleet.evaluate(np.asarray(policy.params), seeds[:workers], policy.mean, policy.std)
        started = time.perf_counter()
        ran = fleet.evaluate(np.asarray(policy.params), seeds, policy.mean, policy.std)
        elapsed = time.perf_counter() - started
    return int(ran.lengths.sum()) / elapsed / workers


def in_process(policy: cairn.rl.Policy) -> float:
    """Steps per second of cairn's rollout code called in this process, no executor."""
    scenario = cairn.rl.Scenario(ENV, policy.architecture, cairn.rl.NoiseTable(0, 1))
    seeds = np.arange(EPISODES_PER_WORKER)
    started = time.perf_counter()
    ran = cairn.rl.RolloutWorker().evaluate(
        scenario, np.asarray(policy.params), seeds, policy.mean, policy.std
    )
    return int(ran.lengths.sum()) / (time.perf_counter() - started)


def plain_loop(policy: cairn.rl.Policy) -> float:
    """Steps per second of one environment stepped by `policy`, called on each observation,
    in this process: what one would write without cairn."""
    env = gymnasium.make(ENV)
    observation, _ = env.reset(seed=0)
    started = time.perf_counter()
    for _ in range(PLAIN_STEPS):
        observation, _, terminated, truncated, _ = env.step(policy(observation))
        if terminated or truncated:
            observation, _ = env.reset()
    return PLAIN_STEPS / (time.perf_counter() - started)


def cores(processes: int) -> float:
    """CPU seconds per wall second that `processes` spinning processes got together."""
    children = [
        subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    return sum(float(child.communicate()[0]) for child in children)


def median_spread(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), max(values) / min(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ray", action="store_true", help="leave the Ray cases out")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-rl-"))
    os.environ["CAIRN_STORE"] = f"sqlite:///{tmp / 'cairn.db'}"
    os.environ["CAIRN_BLOBS"] = str(tmp / "blobs")
    os.chdir(tmp)
    cases = {"local, 1 worker": ("local", 1), "local, 2 workers": ("local", 2)}
    if not args.no_ray:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        cases["ray (local), 2 actors"] = ("ray", 2)
    plain, inline = "plain gymnasium loop, 1 env, policy per step", "cairn rollout code in process"
    solve_s: dict[str, list[float]] = {label: [] for label in cases}
    start_s: dict[str, list[float]] = {label: [] for label in cases}
    rates: dict[str, list[float]] = {label: [] for label in [plain, inline, *cases]}
    probes: dict[int, list[float]] = {1: [], 2: []}
    trained: list[cairn.rl.ESResult] = []
    for _ in range(args.rounds):
        for processes in probes:
            probes[processes].append(cores(processes))
        for label, (url, workers) in cases.items():
            elapsed, start, result = solve(url, workers, args.seed)
            solve_s[label].append(elapsed)
            start_s[label].append(start)
            trained.append(result)
        policy = trained[-1].policy
        rates[plain].append(plain_loop(policy))
        rates[inline].append(in_process(policy))
        for label, (url, workers) in cases.items():
            rates[label].append(on_actors(url, workers, policy))
    histories = {tuple(d.outcome() for d in r.history) for r in trained}
    assert len(histories) == 1, "the cases trained differently: the comparison is void"
    first = trained[0]
    steps = sum(done.env_steps for done in first.history)
    one_core, two_cores = (statistics.median(probes[n]) for n in (1, 2))
    machine = (
        f"CPU this run got (medians of a 1 s probe per round): one spinning process "
        f"{one_core:.2f} cores, two together {two_cores:.2f}; the best speed-up 2 workers "
        f"could show was {two_cores / one_core:.2f}x."
    )
    one = statistics.median(solve_s["local, 1 worker"])
    rows = []
    for label in cases:
        median, spread = median_spread(solve_s[label])
        start = statistics.median(start_s[label])
        rows.append(
            [label, f"{median:.1f}", f"{spread:.2f}", f"{start:.1f}", f"{one / median:.2f}x"]
        )
    report(
        "rl",
        f"ES solving {ENV} (seed {args.seed}: {first.iterations} iterations, {steps:,} "
        f"training steps, mean return {first.mean_return:.1f} over 100 episodes), "
        f"{args.rounds} alternating rounds",
        ["case", "median s to solve", "spread", "of which start s", "speed-up vs 1 worker"],
        rows,
        notes=(
            "Every case runs the same iterations (one seed; the history does not depend on "
            "the executor or the number of workers). Time to solve is from the call to the "
            "result on an executor made beforehand; its start is until the first "
            "iteration's rollouts: the run, and the actors (on `local`, a process importing "
            "cairn and gymnasium). " + machine
        ),
    )
    anchor = statistics.median(rates[plain])
    rows = []
    for label in [plain, inline, *cases]:
        median, spread = median_spread(rates[label])
        rows.append([label, f"{median:,.0f}", f"{spread:.2f}", f"{median / anchor:.2f}x"])
    report(
        "rl_steps",
        f"{ENV} environment steps per second per worker, the solved policy, "
        f"{args.rounds} alternating rounds",
        ["case", "env steps/s per worker", "spread", "vs plain loop"],
        rows,
        notes=(
            f"Every row but the plain loop runs {EPISODES_PER_WORKER} episodes per worker in "
            "lockstep (one batched forward pass per step for the live episodes) in one call, "
            "timed from the call to the returns: on an executor, the parameters going out and "
            "the returns coming back are in it, the actors' start is not. The plain loop "
            f"steps one environment {PLAIN_STEPS:,} times, calling the policy on each "
            "observation. " + machine
        ),
    )


if __name__ == "__main__":
    main()
