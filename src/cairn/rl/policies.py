"""Policies on flat parameter vectors: a linear map or a small tanh MLP from the
observation to one output per action (discrete: the action with the largest output) or per
action dimension (continuous: squashed into the action space's bounds).

ES perturbs the flat vector directly, so a network is only a way of reading one:
`Network.forward` takes one vector, or one per row of observations (a population evaluated
in lockstep). A `Policy` is the network with its parameters and, optionally, the running
mean and standard deviation its observations are normalized with; it pickles (cloudpickle
or pickle) and is called on one observation, so it can be registered as a Python callable
model. It needs NumPy only: gymnasium is imported to build one from an environment, not to
run it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from cairn.errors import InvalidValueError
from cairn.states import TextEnum

DEFAULT_HIDDEN = (32, 32)
OUTPUT_INIT_STD = 0.01  # an MLP starts close to indifferent between actions


class PolicyKind(TextEnum):
    LINEAR = "linear"
    MLP = "mlp"


@dataclass(frozen=True)
class Network:
    """Layers of these sizes (inputs first), tanh between them, none after the last."""

    sizes: tuple[int, ...]

    @property
    def n_params(self) -> int:
        return sum((n_in + 1) * n_out for n_in, n_out in self._layers())

    def _layers(self) -> list[tuple[int, int]]:
        return list(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """Starting parameters: zeros for a linear map (every perturbation is then a policy
        of its own); for an MLP, weights with columns of norm 1 (0.01 for the outputs), the
        paper's initialization, and zero biases."""
        layers = self._layers()
        if len(layers) == 1:
            return np.zeros(self.n_params)
        parts = []
        for number, (n_in, n_out) in enumerate(layers):
            weights = rng.standard_normal((n_in, n_out))
            scale = OUTPUT_INIT_STD if number == len(layers) - 1 else 1.0
            weights *= scale / np.sqrt(np.square(weights).sum(axis=0, keepdims=True))
            parts += [weights.ravel(), np.zeros(n_out)]
        return np.concatenate(parts)

    def forward(self, params: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Outputs for observations `x` (one per row), with one parameter vector (1-D
        `params`) or a vector per row (2-D)."""
        per_row = params.ndim == 2
        layers = self._layers()
        offset = 0
        for number, (n_in, n_out) in enumerate(layers):
            end = offset + n_in * n_out
            if per_row:
                weights = params[:, offset:end].reshape(-1, n_in, n_out)
                x = np.matmul(x[:, None, :], weights)[:, 0, :] + params[:, end : end + n_out]
            else:
                x = x @ params[offset:end].reshape(n_in, n_out) + params[end : end + n_out]
            offset = end + n_out
            if number < len(layers) - 1:
                x = np.tanh(x)
        return x


@dataclass(frozen=True)
class Discrete:
    """Actions `start`, ..., `start + n - 1`: the one whose output is largest."""

    n: int
    start: int = 0

    @property
    def outputs(self) -> int:
        return self.n

    def act(self, outputs: np.ndarray) -> np.ndarray:
        return np.argmax(outputs, axis=1) + self.start


@dataclass(frozen=True)
class Continuous:
    """A box of actions: outputs squashed by tanh into [low, high] where both are finite,
    taken as they are where not."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    dtype: str = "float32"

    @property
    def outputs(self) -> int:
        return len(self.low)

    def act(self, outputs: np.ndarray) -> np.ndarray:
        low, high = np.asarray(self.low), np.asarray(self.high)
        bounded = np.isfinite(low) & np.isfinite(high)
        low, high = np.where(bounded, low, -1.0), np.where(bounded, high, 1.0)
        squashed = low + (np.tanh(outputs) + 1) * (high - low) / 2
        return np.where(bounded, squashed, outputs).astype(self.dtype)


Head = Discrete | Continuous


@dataclass(frozen=True)
class Architecture:
    """What a policy is, without its parameters: its network and how outputs become actions."""

    network: Network
    head: Head

    @property
    def observation_size(self) -> int:
        return self.network.sizes[0]

    def policy(
        self, params: ArrayLike, mean: ArrayLike | None = None, std: ArrayLike | None = None
    ) -> Policy:
        return Policy(self, params, mean, std)


def architecture_for(
    observation_space: object,
    action_space: object,
    kind: PolicyKind | str = PolicyKind.LINEAR,
    hidden: tuple[int, ...] = DEFAULT_HIDDEN,
) -> Architecture:
    """The policy of `kind` for an environment with these gymnasium spaces."""
    # Here, not at the top: running a policy (serving it) needs NumPy only.
    from gymnasium import spaces

    try:
        kind = PolicyKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in PolicyKind)
        raise InvalidValueError(f"unknown policy {kind!r} (known: {known})") from None
    if not isinstance(observation_space, spaces.Box):
        raise InvalidValueError(
            f"ES policies read observations from a Box space, not {observation_space}"
        )
    if isinstance(action_space, spaces.Discrete):
        head: Head = Discrete(int(action_space.n), int(action_space.start))
    elif isinstance(action_space, spaces.Box):
        low = tuple(float(v) for v in action_space.low.ravel())
        high = tuple(float(v) for v in action_space.high.ravel())
        head = Continuous(low, high, action_space.dtype.name)
    else:
        raise InvalidValueError(
            f"ES policies act in a Discrete or Box action space, not {action_space}"
        )
    if kind is PolicyKind.MLP and (not hidden or min(hidden) < 1):
        raise InvalidValueError(f"an MLP needs hidden layers of 1 unit or more, not {hidden}")
    inner = tuple(int(n) for n in hidden) if kind is PolicyKind.MLP else ()
    inputs = math.prod(observation_space.shape)
    return Architecture(Network((inputs, *inner, head.outputs)), head)


class Policy:
    """A trained policy: `policy(observation)` is the action (an int for a discrete action
    space, an array for a continuous one); `policy.predict(observations)`, one row each,
    is an array of actions."""

    def __init__(
        self,
        architecture: Architecture,
        params: ArrayLike,
        mean: ArrayLike | None = None,
        std: ArrayLike | None = None,
    ) -> None:
        self.architecture = architecture
        self.params = _frozen(params, architecture.network.n_params, "parameters")
        size = architecture.observation_size
        self.mean = None if mean is None else _frozen(mean, size, "observation means")
        self.std = None if std is None else _frozen(std, size, "observation deviations")

    def __call__(self, observation: ArrayLike) -> int | np.ndarray:
        action = self.predict(np.asarray(observation, dtype=np.float64).reshape(1, -1))[0]
        return int(action) if isinstance(self.architecture.head, Discrete) else action

    def predict(self, observations: ArrayLike) -> np.ndarray:
        x = np.asarray(observations, dtype=np.float64)
        size = self.architecture.observation_size
        if x.ndim < 2 or math.prod(x.shape[1:]) != size:
            raise InvalidValueError(
                f"this policy reads observations of {size} values, one per row; "
                f"got an array of shape {x.shape}"
            )
        x = x.reshape(len(x), size)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return self.architecture.head.act(self.architecture.network.forward(self.params, x))

    def __repr__(self) -> str:
        sizes = "x".join(str(n) for n in self.architecture.network.sizes)
        normalized = ", normalized" if self.mean is not None else ""
        return f"<Policy {sizes} {type(self.architecture.head).__name__}{normalized}>"


def _frozen(values: ArrayLike, size: int, what: str) -> np.ndarray:
    array = np.array(values, dtype=np.float64).ravel()
    if array.size != size:
        raise InvalidValueError(f"expected {size} {what}, got {array.size}")
    array.flags.writeable = False
    return array
