"""The release gate of the demo's policy: its mean return over evaluation episodes, as the
RISECamp flow asks (CartPole-v1 counts as solved at 475 over 100 episodes)."""

from __future__ import annotations

from cairn.models.gates import Candidate
from cairn.models.loading import load_version
from cairn.rl.environments import make_env


def episode_returns(policy, env_id: str, episodes: int, seed: int = 10_000) -> list[float]:
    """The return of each of `episodes` episodes of `policy` (a callable on one
    observation), seeded `seed`, `seed + 1`, ... so that a gate's verdict repeats."""
    env = make_env(env_id)
    returns = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(policy(observation))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def mean_return(
    candidate: Candidate, env_id: str, episodes: int, minimum: float
) -> tuple[bool, str]:
    """A custom gate (`cairn.models.gates.custom("cairn.demo.gates:mean_return", ...)`)."""
    policy = load_version(candidate.store, candidate.version).native
    returns = episode_returns(policy, env_id, episodes)
    mean = sum(returns) / len(returns)
    verdict = "at least" if mean >= minimum else "below"
    return (
        mean >= minimum,
        f"mean return {mean:.1f} over {episodes} episodes is {verdict} {minimum}",
    )
