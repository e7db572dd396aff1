"""MLflow names as cairn names, and MLflow's text params as cairn's typed ones.

MLflow allows `/` in experiment, run, metric, param, tag and model names (`train/loss`,
`/Users/alice/churn`); cairn keeps names free of path separators, so each becomes `.`
(leading and trailing ones dropped): `train/loss` -> `train.loss`, `/Users/alice/churn` ->
`Users.alice.churn`. Control characters become `_`. The import reports every name it changed.
"""

from __future__ import annotations

import json
import math
import unicodedata

from cairn.tracking.validation import MAX_NAME_LENGTH, check_name

_SEPARATORS = str.maketrans({"/": ".", "\\": "."})


class Names:
    """Converts names, remembering each one it changed (original -> cairn name)."""

    def __init__(self) -> None:
        self.changed: dict[str, str] = {}
        self._seen: dict[str, str] = {}

    def __call__(self, name: str, what: str = "name") -> str:
        found = self._seen.get(name)
        if found is not None:
            return found
        text = "".join(
            "_" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
            for c in name.translate(_SEPARATORS)
        ).strip(".")[:MAX_NAME_LENGTH]
        text = check_name(text or "_", what)
        if text != name:
            self.changed[name] = text
        if len(self._seen) < 1_000_000:
            self._seen[name] = text
        return text


def param_value(text: str) -> tuple[str, float | None]:
    """(JSON, number) of a param MLflow stored as text. A number whose JSON is that very text
    (`0.5`, `3`, `-1e-05`... as Python writes them) is stored as the number, so numeric
    filters and sorting work; anything else (`1e-3`, `True`, `None`, `[1, 2]`) stays the text,
    so `params.x = '...'` finds exactly what MLflow's filter would."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if type(value) in (int, float) and math.isfinite(value) and json.dumps(value) == text:
        return text, float(value)
    return json.dumps(text), None
