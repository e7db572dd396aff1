"""The pieces route specs are made of: versions, `V=W` weights and `key=value` parameters.

Each parser raises InvalidValueError saying what is wrong with the piece; the registry adds
the spec and the accepted forms to the message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cairn.errors import InvalidValueError


def parse_version(text: str) -> int:
    """A model version: a positive integer."""
    text = text.strip()
    if not text.isdecimal() or int(text) < 1:
        raise InvalidValueError(f"{text!r} is not a model version (a positive integer)")
    return int(text)


def parse_versions(text: str, *, at_least: int = 1) -> tuple[int, ...]:
    """Comma-separated distinct versions, in the order given."""
    versions = tuple(parse_version(part) for part in text.split(",")) if text.strip() else ()
    if len(versions) < at_least:
        wanted = f"at least {at_least} versions" if at_least > 1 else "a version"
        raise InvalidValueError(f"needs {wanted}, got {len(versions)}")
    _distinct(versions)
    return versions


def parse_weights(text: str) -> dict[int, float]:
    """Comma-separated `VERSION=WEIGHT` pairs; weights are positive and finite, and need not
    sum to anything in particular."""
    pairs: list[tuple[int, float]] = []
    for part in text.split(",") if text.strip() else ():
        version, sep, weight = part.partition("=")
        if not sep:
            raise InvalidValueError(f"{part.strip()!r} is not VERSION=WEIGHT")
        number = parse_version(version)
        pairs.append((number, _positive(weight, f"the weight of version {number}")))
    if not pairs:
        raise InvalidValueError("needs at least one VERSION=WEIGHT")
    _distinct([version for version, _ in pairs])
    return dict(pairs)


def parse_params(parts: list[str], known: tuple[str, ...]) -> dict[str, str]:
    """`key=value` parameters, each key among `known` and given once."""
    params: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in known:
            accepted = ", ".join(f"{k}=..." for k in known) or "none"
            raise InvalidValueError(f"unknown parameter {part.strip()!r} (accepted: {accepted})")
        if key in params:
            raise InvalidValueError(f"parameter {key!r} is given twice")
        params[key] = value.strip()
    return params


def parse_fraction(text: str, what: str) -> float:
    """A number in (0, 1]."""
    value = _positive(text, what)
    if value > 1:
        raise InvalidValueError(f"{what} must be in (0, 1], got {text.strip()!r}")
    return value


def _positive(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidValueError(f"{what} is {text.strip()!r}, not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidValueError(f"{what} must be a positive finite number, got {text.strip()!r}")
    return value


def _distinct(versions: Sequence[int]) -> None:
    seen: set[int] = set()
    for version in versions:
        if version in seen:
            raise InvalidValueError(f"version {version} is given twice")
        seen.add(version)
