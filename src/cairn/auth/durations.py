"""Lengths of time as people type them on a command line: 90s, 15m, 1h, 30d, 2w."""

from __future__ import annotations

import re

from cairn.errors import InvalidValueError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str | float) -> float:
    """Seconds in `text` (a number and a unit: 90s, 15m, 1h, 30d, 2w), or a number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.fullmatch(str(text).strip())
        if match is None:
            raise InvalidValueError(
                f"duration {text!r} is not a number and a unit; write e.g. 90s, 15m, 1h, 30d, 2w"
            )
        seconds = float(match[1]) * UNITS[match[2]]
    if seconds <= 0:
        raise InvalidValueError(f"duration {text!r} must be longer than zero")
    return seconds
