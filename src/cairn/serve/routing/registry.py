"""Which router a route spec builds: the spec's head (`alias`, `split`, `shadow`,
`bandit:exp3`, `bandit:thompson`) names a registered router class, the rest is its arguments.

A spec is what `cairn serve --route NAME=SPEC` takes. Adding a kind of routing is one module
with a `Router` subclass that has `spec_name`, `usage` and `from_spec`, registered here or
with `register_router`.
"""

from __future__ import annotations

import random

from cairn.errors import InvalidValueError
from cairn.serve.routing.bandit import Exp3Router, ThompsonRouter
from cairn.serve.routing.fixed import FixedRouter
from cairn.serve.routing.protocol import Router, RouterFactory
from cairn.serve.routing.shadow import ShadowRouter
from cairn.serve.routing.split import SplitRouter

# Registration happens at import and at start-up, before the event loop serves requests,
# and the table is only read afterwards: no lock.
_factories: dict[str, RouterFactory] = {
    factory.spec_name: factory
    for factory in (FixedRouter, SplitRouter, ShadowRouter, Exp3Router, ThompsonRouter)
}


def register_router(factory: RouterFactory) -> None:
    """Add a router class under its `spec_name`, replacing one registered under that name."""
    name = getattr(factory, "spec_name", None)
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise InvalidValueError("a router class needs a lower-case, non-empty str `spec_name`")
    if not isinstance(factory, RouterFactory):
        raise InvalidValueError(f"router {name!r} lacks one of spec_name, usage, from_spec")
    _factories[name] = factory


def route_forms() -> list[str]:
    """The accepted spec forms, one per registered router class."""
    return [factory.usage for factory in _factories.values()]


def router_from_spec(spec: str, alias_version: int, rng: random.Random | None = None) -> Router:
    """The router a spec describes, for a model whose alias points to `alias_version`.
    `rng` drives every random choice (seed it for reproducible routing)."""
    text = spec.strip().lower()
    rng = rng if rng is not None else random.Random()
    # The longest registered head wins, so `bandit:exp3` is not read as `bandit`.
    for name in sorted(_factories, key=len, reverse=True):
        if text == name or text.startswith(name + ":"):
            try:
                return _factories[name].from_spec(text[len(name) + 1 :], alias_version, rng)
            except InvalidValueError as exc:
                raise _bad(spec, str(exc)) from None
    family = text.partition(":")[0] + ":"
    kin = ", ".join(name for name in _factories if name.startswith(family))
    raise _bad(spec, f"unknown kind (known: {kin})" if kin else "unknown kind")


def _bad(spec: str, problem: str) -> InvalidValueError:
    forms = " | ".join(route_forms())
    return InvalidValueError(f"bad route {spec!r}: {problem}; accepted forms: {forms}")
