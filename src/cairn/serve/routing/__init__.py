"""Routing between the versions of one model name: the alias's version, a weighted split,
shadow copies, or a bandit (Exp3, Thompson sampling) that learns from feedback.

`router_from_spec("split:2=90,3=10", alias_version)` builds a router; the hub calls
`choose()` per request, `feedback()` for each reward posted and `retarget()` when the alias
moves.
"""

from cairn.serve.routing.bandit import Exp3Router, ThompsonRouter
from cairn.serve.routing.fixed import FixedRouter
from cairn.serve.routing.protocol import Choice, RouteKind, Router, RouterFactory
from cairn.serve.routing.registry import register_router, route_forms, router_from_spec
from cairn.serve.routing.shadow import ShadowRouter
from cairn.serve.routing.split import SplitRouter

__all__ = [
    "Choice",
    "Exp3Router",
    "FixedRouter",
    "RouteKind",
    "Router",
    "RouterFactory",
    "ShadowRouter",
    "SplitRouter",
    "ThompsonRouter",
    "register_router",
    "route_forms",
    "router_from_spec",
]
