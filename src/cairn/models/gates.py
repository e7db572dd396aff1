"""Release gates: what a model version must pass before an alias moves to it.

A gate is stored as its spec (JSON with its `kind`) in `model_gates`, so the CLI, the API and
a server rebuild and apply the same gates. Kinds are registered by name, as flavors and codecs
are, and a kind's name and arguments are stored forever.

Building a gate with the functions below checks its arguments (and that a named metric
exists here); `gate_from_spec` checks only the spec's shape, so a stored gate always loads
again and anything that stopped working where it runs (a metric gone from scikit-learn, a
custom function no longer importable) fails that gate's check, with the reason, which
`force=True` can override. `run_gates` runs every gate and never raises: a gate that raises
is a failed result whose reason is the exception.

    gate = cairn.models.gates.metric("digits-holdout", "accuracy", min=0.95)
    cairn.models.add_gate("digits", "production", gate)
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import sqlalchemy as sa

from cairn.errors import CairnError, InvalidValueError
from cairn.models.check import check_in_fresh_process
from cairn.models.evaluation import Holdout, load_holdout, metric_named, score
from cairn.models.flavors.classpath import import_path
from cairn.models.ownership import DAY_S
from cairn.models.signature import FrameSchema, Signature
from cairn.models.versions import ModelVersion, get_model
from cairn.states import TextEnum
from cairn.store import Store, schema

FUNCTION_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class GateKind(TextEnum):
    """The built-in kinds, as stored in `model_gates.spec["kind"]`."""

    METRIC = "metric"
    NOT_WORSE = "not_worse"
    SIGNATURE_UNCHANGED = "signature_unchanged"
    LOADS_IN_FRESH_PROCESS = "loads_in_fresh_process"
    OWNER_ACTIVE = "owner_active"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Candidate:
    """A proposed alias move: `version` is about to get `name@alias`."""

    store: Store
    name: str
    alias: str
    version: ModelVersion
    current: ModelVersion | None  # what the alias points to now; None: nothing yet


@dataclass(frozen=True)
class GateResult:
    gate: str  # the gate's describe()
    kind: str
    passed: bool
    reason: str  # why, in words: "accuracy 0.91 on digits-holdout:2 is below 0.95"
    value: float | None = None  # the number the gate measured, if any
    detail: dict = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict:
        return {
            "gate": self.gate,
            "kind": str(self.kind),
            "passed": self.passed,
            "reason": self.reason,
            "value": self.value,
            "detail": self.detail,
        }


@runtime_checkable
class Gate(Protocol):
    kind: str  # stored forever in model_gates.spec["kind"]

    def to_spec(self) -> dict:
        """JSON-able, with "kind"; `gate_from_spec` rebuilds the gate from it."""
        ...

    def describe(self) -> str:
        """One line for people: "accuracy on digits-holdout:2 >= 0.95"."""
        ...

    def check(self, candidate: Candidate) -> GateResult: ...


# --- the registry of kinds --------------------------------------------------------------------

_kinds: dict[str, Any] = {}


def register_gate_kind(cls: type) -> type:
    """Make `cls` (with a str `kind` and a `from_spec(spec)` classmethod) loadable from the
    specs it writes. A kind already registered is replaced. Returns `cls`, so it decorates."""
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise InvalidValueError(f"gate class {cls.__qualname__} needs a non-empty str `kind`")
    if not callable(getattr(cls, "from_spec", None)):
        raise InvalidValueError(
            f"gate class {cls.__qualname__} needs a from_spec(spec) classmethod"
        )
    _kinds[str(kind)] = cls
    return cls


def gate_kinds() -> list[str]:
    return sorted(_kinds)


def gate_from_spec(spec: Mapping) -> Gate:
    """The gate `spec` (what a gate's `to_spec` wrote) describes."""
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if not isinstance(kind, str):
        raise InvalidValueError(f"a gate spec is a dict with its 'kind', got {spec!r}")
    cls = _kinds.get(kind)
    if cls is None:
        raise InvalidValueError(
            f"unknown gate kind {kind!r} (known: {', '.join(gate_kinds())}); a third-party "
            "kind must be registered with cairn.models.gates.register_gate_kind before use"
        )
    return cls.from_spec(dict(spec))


def run_gates(gates: Sequence[Gate], candidate: Candidate) -> list[GateResult]:
    """Every gate's result, in order: all of them run, whatever the others said."""
    return [_run(gate, candidate) for gate in gates]


def _run(gate: Gate, candidate: Candidate) -> GateResult:
    kind = str(getattr(gate, "kind", type(gate).__qualname__))
    label = kind
    try:
        label = gate.describe()
        result = gate.check(candidate)
    except Exception as exc:
        return GateResult(label, kind, False, _exception_text(exc), detail={"error": _name(exc)})
    if not isinstance(result, GateResult):
        return GateResult(
            label, kind, False, f"the gate returned a {type(result).__qualname__}, not a GateResult"
        )
    return result


def _exception_text(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, CairnError) and text else f"{_name(exc)}: {text}"


def _name(exc: BaseException) -> str:
    return type(exc).__qualname__


# --- the built-in gates -----------------------------------------------------------------------


class _SpecGate:
    """A frozen dataclass gate whose spec is its kind plus its fields."""

    kind: ClassVar[str]

    def to_spec(self) -> dict:
        return {"kind": str(self.kind), **_jsonable(dataclasses.asdict(self))}

    @classmethod
    def from_spec(cls, spec: Mapping) -> Any:
        arguments = {k: v for k, v in spec.items() if k != "kind"}
        fields = dataclasses.fields(cls)
        names = {f.name for f in fields}
        required = {
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        unknown, missing = sorted(set(arguments) - names), sorted(required - set(arguments))
        if unknown or missing:
            wrong = f"not {', '.join(unknown)}" if unknown else f"{', '.join(missing)} missing"
            raise InvalidValueError(
                f"a {cls.kind} gate takes {', '.join(sorted(names)) or 'no arguments'}: {wrong}"
            )
        return cls(**arguments)

    def _result(
        self, passed: bool, reason: str, value: float | None = None, **detail: object
    ) -> GateResult:
        return GateResult(self.describe(), str(self.kind), passed, reason, value, detail)


def _jsonable(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class _ScoredGate(_SpecGate):
    """A gate that scores models on a dataset version (see cairn.models.evaluation)."""

    dataset: str
    metric: str
    version: int | None = None  # None: the dataset's latest version when the gate runs
    labels: str | None = None
    features: str | tuple[str, ...] | None = None
    options: dict | None = None  # keyword arguments of the metric, e.g. {"average": "macro"}

    def __post_init__(self) -> None:
        _require_text(self.dataset, "dataset", "a registered dataset's name")
        _require_text(self.metric, "metric", "a scikit-learn metric's name, e.g. 'accuracy'")
        if self.version is not None and (
            isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1
        ):
            raise InvalidValueError(
                f"version must be a dataset version number (1, 2, ...) or None for the latest, "
                f"got {self.version!r}"
            )
        if self.labels is not None:
            _require_text(self.labels, "labels", "the label column or key")
        if self.features is not None and not isinstance(self.features, str):
            if isinstance(self.features, Mapping) or not isinstance(self.features, Sequence):
                raise InvalidValueError(
                    f"features must be a column or key name, or a list of them, got "
                    f"{self.features!r}"
                )
            object.__setattr__(self, "features", tuple(self.features))
            for name in self.features:
                _require_text(name, "each feature", "a column or key name")
        if self.options is not None:
            if not isinstance(self.options, Mapping):
                raise InvalidValueError(
                    f"options are the metric's keyword arguments as a dict, got {self.options!r}"
                )
            object.__setattr__(self, "options", _json_arguments(dict(self.options), "options"))

    def _on(self) -> str:
        return self.dataset if self.version is None else f"{self.dataset}:{self.version}"

    def _metric_text(self) -> str:
        if not self.options:
            return self.metric
        return f"{self.metric}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    def _holdout(self, store: Store) -> Holdout:
        return load_holdout(
            store, self.dataset, self.version, labels=self.labels, features=self.features
        )


@dataclass(frozen=True, kw_only=True)
class MetricGate(_ScoredGate):
    kind: ClassVar[str] = GateKind.METRIC

    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.min is None) == (self.max is None):
            raise InvalidValueError(
                "a metric gate needs exactly one threshold: min= (the least a score may be) "
                "or max= (the most an error may be)"
            )
        threshold = self.min if self.min is not None else self.max
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InvalidValueError(f"the threshold must be a number, got {threshold!r}")
        if not math.isfinite(threshold):
            raise InvalidValueError(f"the threshold must be a finite number, got {threshold!r}")

    def describe(self) -> str:
        bound = f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"
        return f"{self._metric_text()} on {self._on()} {bound}"

    def check(self, candidate: Candidate) -> GateResult:
        metric = metric_named(self.metric)
        holdout = self._holdout(candidate.store)
        value = score(candidate.store, candidate.version, holdout, metric, **(self.options or {}))
        said = f"{self.metric} {value:.6g} on {holdout}"
        if self.min is not None:
            passed = value >= self.min
            reason = f"{said} is {'at least' if passed else 'below'} {self.min:g}"
        else:
            passed = value <= self.max
            reason = f"{said} is {'at most' if passed else 'above'} {self.max:g}"
        return self._result(
            passed, reason, value, dataset=holdout.dataset, dataset_version=holdout.version
        )


@dataclass(frozen=True, kw_only=True)
class NotWorseGate(_ScoredGate):
    kind: ClassVar[str] = GateKind.NOT_WORSE

    tolerance: float = 0.0  # how much worse than the current version still passes
    greater_is_better: bool | None = None  # None: from the metric's name (…_error is lower)

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            isinstance(self.tolerance, bool)
            or not isinstance(self.tolerance, int | float)
            or not self.tolerance >= 0
            or not math.isfinite(self.tolerance)
        ):
            raise InvalidValueError(
                f"tolerance must be a number >= 0 (how much worse still passes), "
                f"got {self.tolerance!r}"
            )
        if self.greater_is_better is not None and not isinstance(self.greater_is_better, bool):
            raise InvalidValueError(
                f"greater_is_better must be True, False or None (from the metric's name), "
                f"got {self.greater_is_better!r}"
            )

    def describe(self) -> str:
        slack = f" (tolerance {self.tolerance:g})" if self.tolerance else ""
        return f"{self._metric_text()} on {self._on()} not worse than the current version{slack}"

    def check(self, candidate: Candidate) -> GateResult:
        current = candidate.current
        if current is None:
            return self._result(
                True, f"nothing has alias {candidate.alias} yet: no version to compare with"
            )
        metric = metric_named(self.metric)
        greater = (
            metric.greater_is_better if self.greater_is_better is None else self.greater_is_better
        )
        holdout = self._holdout(candidate.store)
        options = self.options or {}
        value = score(candidate.store, candidate.version, holdout, metric, **options)
        before = score(candidate.store, current, holdout, metric, **options)
        passed = value >= before - self.tolerance if greater else value <= before + self.tolerance
        verdict = "is not worse than" if passed else "is worse than"
        slack = f" by more than {self.tolerance:g}" if self.tolerance and not passed else ""
        reason = (
            f"{self.metric} {value:.6g} of {candidate.version} on {holdout} {verdict} "
            f"{before:.6g} of {current} (now {candidate.alias}){slack}"
        )
        return self._result(
            passed, reason, value, current=before, current_version=current.version,
            dataset=holdout.dataset, dataset_version=holdout.version, greater_is_better=greater,
        )  # fmt: skip


@dataclass(frozen=True)
class SignatureUnchangedGate(_SpecGate):
    kind: ClassVar[str] = GateKind.SIGNATURE_UNCHANGED

    def describe(self) -> str:
        return "signature unchanged"

    def check(self, candidate: Candidate) -> GateResult:
        current = candidate.current
        if current is None:
            return self._result(
                True, f"nothing has alias {candidate.alias} yet: no signature to compare with"
            )
        new, old = candidate.version.signature, current.signature
        if new == old:
            return self._result(True, f"{candidate.version} has the signature of {current}")
        changes = "; ".join(_signature_changes(old, new))
        return self._result(
            False, f"{candidate.version} changes the signature of {current}: {changes}",
            before=old, after=new,
        )  # fmt: skip


def _signature_changes(old: dict | None, new: dict | None) -> list[str]:
    if old is None or new is None:
        which = "it has none" if new is None else "the current version has none"
        return [f"{which} (a version gets its signature from register(..., example=))"]
    before, after = Signature.from_json(old), Signature.from_json(new)
    changes = []
    for part, was, now in (
        ("inputs", before.inputs, after.inputs),
        ("outputs", before.outputs, after.outputs),
    ):
        if was == now:
            continue
        if isinstance(was, FrameSchema) and isinstance(now, FrameSchema):
            changes.append(f"{part}: {_column_changes(was, now)}")
        else:
            changes.append(f"{part} {was or 'unknown'} -> {now or 'unknown'}")
    return changes


def _column_changes(was: FrameSchema, now: FrameSchema) -> str:
    before = {c.name: c.dtype for c in was.columns}
    after = {c.name: c.dtype for c in now.columns}
    added = [f"{n} ({t})" for n, t in after.items() if n not in before]
    removed = [f"{n} ({t})" for n, t in before.items() if n not in after]
    retyped = [f"{n} {before[n]} -> {t}" for n, t in after.items() if before.get(n, t) != t]
    said = [
        f"{label} {', '.join(items)}"
        for label, items in (("added", added), ("removed", removed), ("retyped", retyped))
        if items
    ]
    return "; ".join(said) or "columns reordered"


@dataclass(frozen=True)
class FreshProcessGate(_SpecGate):
    kind: ClassVar[str] = GateKind.LOADS_IN_FRESH_PROCESS

    timeout: float = 120.0

    def __post_init__(self) -> None:
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or not 0 < self.timeout < math.inf
        ):
            raise InvalidValueError(
                f"timeout must be a number of seconds > 0, got {self.timeout!r}"
            )

    def describe(self) -> str:
        return f"loads and predicts on its example in a fresh process (within {self.timeout:g} s)"

    def check(self, candidate: Candidate) -> GateResult:
        outcome = check_in_fresh_process(candidate.store, candidate.version, self.timeout)
        detail: dict[str, object] = {"returncode": outcome.returncode, **outcome.report}
        if outcome.stderr:
            detail["stderr"] = outcome.stderr
        return self._result(outcome.passed, outcome.reason, outcome.seconds, **detail)


@dataclass(frozen=True)
class OwnerActiveGate(_SpecGate):
    kind: ClassVar[str] = GateKind.OWNER_ACTIVE

    days: int

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 0:
            raise InvalidValueError(f"days must be a whole number >= 0, got {self.days!r}")

    def describe(self) -> str:
        return f"owner active within {self.days} days"

    def check(self, candidate: Candidate) -> GateResult:
        owner = get_model(candidate.name, store=candidate.store).owner
        last = last_activity(candidate.store, owner)
        if last is None:
            return self._result(
                False, f"owner {owner} has never acted in this store (no event or run by them)",
                owner=owner,
            )  # fmt: skip
        age = time.time() - last
        passed = age < self.days * DAY_S
        within = "within" if passed else "not within"
        return self._result(
            passed, f"owner {owner} last acted {age / DAY_S:.1f} days ago, {within} {self.days}",
            age / DAY_S, owner=owner, last_active=last,
        )  # fmt: skip


def last_activity(store: Store, actor: str) -> float | None:
    """When `actor` last acted: the latest event they wrote or run they started."""
    events, runs = schema.events, schema.runs
    queries = (
        sa.select(sa.func.max(events.c.ts)).where(events.c.actor == actor),
        sa.select(sa.func.max(runs.c.started)).where(runs.c.user == actor),
    )
    with store.reader() as conn:
        times = [conn.execute(query).scalar() for query in queries]
    found = [t for t in times if t is not None]
    return max(found) if found else None


@dataclass(frozen=True)
class CustomGate(_SpecGate):
    kind: ClassVar[str] = GateKind.CUSTOM

    function: str
    arguments: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.function, str) or not FUNCTION_PATH.fullmatch(self.function):
            raise InvalidValueError(
                f"a custom gate names an importable function as 'package.module:function', "
                f"got {self.function!r}"
            )
        if not isinstance(self.arguments, Mapping):
            raise InvalidValueError(f"arguments must be a dict, got {self.arguments!r}")
        object.__setattr__(self, "arguments", _json_arguments(dict(self.arguments), "arguments"))

    def describe(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"custom {self.function}({given})"

    def check(self, candidate: Candidate) -> GateResult:
        try:
            function = import_path(self.function)
        except (ImportError, AttributeError) as exc:
            return self._result(
                False, f"cannot import {self.function}: {_name(exc)}: {exc}", error=_name(exc)
            )
        if not callable(function):
            return self._result(
                False, f"{self.function} is a {type(function).__qualname__}, not a function"
            )
        returned = function(candidate, **self.arguments)
        if isinstance(returned, GateResult):
            return dataclasses.replace(returned, gate=self.describe(), kind=str(self.kind))
        reason = None
        if isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[1], str):
            returned, reason = returned
        if not _is_bool(returned):
            return self._result(
                False,
                f"{self.function} returned {returned!r}; a gate function returns a bool, "
                "(bool, reason) or a GateResult",
            )
        passed = bool(returned)
        return self._result(passed, reason or f"{self.function} returned {passed}")


def _is_bool(value: object) -> bool:
    numpy = sys.modules.get("numpy")  # a comparison of NumPy numbers gives numpy.bool_
    return isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_))


def _require_text(value: object, what: str, expected: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidValueError(f"{what} must be {expected}, got {value!r}")


def _json_arguments(arguments: dict, what: str) -> dict:
    """`arguments` if they are stored as given (JSON with str keys), else an error."""
    try:
        restored = json.loads(json.dumps(arguments))
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"{what} must be JSON values (stored with the gate): {exc}"
        ) from None
    if restored != arguments:
        raise InvalidValueError(
            f"{what} must survive storage as JSON unchanged (str keys, lists not tuples), "
            f"got {arguments!r}"
        )
    return arguments


for _cls in (
    MetricGate,
    NotWorseGate,
    SignatureUnchangedGate,
    FreshProcessGate,
    OwnerActiveGate,
    CustomGate,
):
    register_gate_kind(_cls)


# --- the builders users call: cairn.models.gates.metric(...) -----------------------------------


def metric(
    dataset: str,
    metric: str,
    *,
    min: float | None = None,
    max: float | None = None,
    version: int | None = None,
    labels: str | None = None,
    features: Sequence[str] | str | None = None,
    options: Mapping[str, object] | None = None,
) -> MetricGate:
    """The candidate's `metric` on `dataset` (version `version`, else its latest when the gate
    runs) is at least `min` (a score) or at most `max` (an error). `labels` and `features`
    name where the data is (see cairn.models.evaluation); `options` go to the metric."""
    metric_named(metric)
    return MetricGate(
        dataset=dataset, metric=metric, min=min, max=max, version=version, labels=labels,
        features=features, options=options,
    )  # fmt: skip


def not_worse(
    dataset: str,
    metric: str,
    *,
    version: int | None = None,
    labels: str | None = None,
    features: Sequence[str] | str | None = None,
    tolerance: float = 0.0,
    greater_is_better: bool | None = None,
    options: Mapping[str, object] | None = None,
) -> NotWorseGate:
    """The candidate scores no worse (give or take `tolerance`) than the version the alias
    points to now, both on the same dataset version; passes when the alias is new."""
    metric_named(metric)
    return NotWorseGate(
        dataset=dataset, metric=metric, version=version, labels=labels, features=features,
        tolerance=tolerance, greater_is_better=greater_is_better, options=options,
    )  # fmt: skip


def signature_unchanged() -> SignatureUnchangedGate:
    """The candidate's signature (inputs and outputs) is the current version's."""
    return SignatureUnchangedGate()


def loads_in_fresh_process(timeout: float = 120.0) -> FreshProcessGate:
    """The candidate loads and predicts on its stored example in a new interpreter within
    `timeout` seconds (Runway's check before publishing)."""
    return FreshProcessGate(timeout=timeout)


def owner_active(days: int) -> OwnerActiveGate:
    """The model's owner wrote an event or started a run in the last `days` days."""
    return OwnerActiveGate(days=days)


def custom(function: str, **arguments: object) -> CustomGate:
    """`function` ("package.module:function", imported when the gate runs) is called as
    `function(candidate, **arguments)` and returns a bool, (bool, reason) or a GateResult."""
    return CustomGate(function=function, arguments=arguments)
