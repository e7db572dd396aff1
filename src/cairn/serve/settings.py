"""What `cairn serve` was asked to serve and how: one value, handed to every worker process
as JSON in an environment variable (uvicorn starts workers by importing the app)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from cairn.errors import InvalidValueError
from cairn.models.references import ModelRef, parse_ref

SETTINGS_ENV = "CAIRN_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    models: tuple[str, ...]  # NAME@ALIAS (or NAME/VERSION) references, one per served name
    slo_ms: float = 20.0
    max_batch: int = 512
    batching: bool = True
    cache_entries: int = 10_000  # 0: no cache
    sample: float = 0.01  # the share of predictions logged to the store
    routes: dict[str, str] = field(default_factory=dict)  # name -> router spec
    defaults: dict[str, object] = field(default_factory=dict)  # name -> straggler answer
    max_body_bytes: int = 8 * 1024 * 1024
    max_rows: int = 10_000
    poll_s: float = 1.0  # how often the registry is asked whether an alias moved
    auth: bool = False  # every route but liveness requires a token (`guard.py`)

    def refs(self) -> list[ModelRef]:
        refs = [parse_ref(text) for text in self.models]
        names = [r.name for r in refs]
        if not refs:
            raise InvalidValueError("give at least one model to serve, e.g. digits@production")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise InvalidValueError(
                f"{', '.join(duplicated)} given twice; serve one alias per model name and "
                "route between its versions with --route NAME=SPEC"
            )
        unknown = sorted(set(self.routes) - set(names))
        if unknown or set(self.defaults) - set(names):
            raise InvalidValueError(
                f"--route/--default name models that are not served: "
                f"{', '.join(unknown or sorted(set(self.defaults) - set(names)))}"
            )
        if not 0.0 <= self.sample <= 1.0:
            raise InvalidValueError(f"--sample is a share between 0 and 1, got {self.sample}")
        if self.slo_ms <= 0 or self.max_batch < 1 or self.max_rows < 1:
            raise InvalidValueError("--slo-ms, --max-batch and --max-rows must be positive")
        return refs

    def to_env(self) -> dict[str, str]:
        return {SETTINGS_ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> ServeSettings:
        text = os.environ.get(SETTINGS_ENV)
        if not text:
            raise InvalidValueError(
                f"{SETTINGS_ENV} is not set: start the server with `cairn serve NAME@ALIAS`"
            )
        data = json.loads(text)
        data["models"] = tuple(data["models"])
        return cls(**data)
