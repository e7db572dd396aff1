"""Capability tokens (Biscuit, WAVE's model): keys, grants, attenuation, revocation."""

from cairn.auth.keys import init, public_key, trusted_keys
from cairn.auth.rights import Operation, ResourceKind, Right
from cairn.auth.tokens import TokenInfo, attenuate, grant, inspect, revoke
from cairn.auth.verifier import Principal, Verifier

__all__ = [
    "Operation",
    "Principal",
    "ResourceKind",
    "Right",
    "TokenInfo",
    "Verifier",
    "attenuate",
    "grant",
    "init",
    "inspect",
    "public_key",
    "revoke",
    "trusted_keys",
]
