"""Making gymnasium environments, with cairn's errors: gymnasium is the `rl` extra, imported
when an environment is first made, so `import cairn.rl` (and running a trained policy) works
without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.errors import CairnError, InvalidValueError

if TYPE_CHECKING:
    import gymnasium


def make_env(env_id: str) -> gymnasium.Env:
    """A new environment `env_id` (e.g. "CartPole-v1"), with gymnasium's standard wrappers
    (its time limit among them)."""
    try:
        import gymnasium
    except ModuleNotFoundError as exc:
        raise CairnError("reinforcement learning needs gymnasium: pip install 'cairn[rl]'") from exc
    try:
        return gymnasium.make(env_id)
    except gymnasium.error.Error as exc:
        raise InvalidValueError(f"no gymnasium environment {env_id!r}: {exc}") from None
