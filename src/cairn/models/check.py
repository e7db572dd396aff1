"""Runway's check before publishing: a model version loads and predicts on its stored example
in a new interpreter, which has what a server would have (the installed packages and the
store) and none of the modules, classes and objects of the process that trained it.

`python -m cairn.models.check NAME/VERSION`, with the store in CAIRN_STORE and CAIRN_BLOBS,
prints what it did as JSON on stdout and exits 0, or exits 1 with the traceback on stderr and
the reason alone on stderr's last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from cairn.errors import InvalidValueError
from cairn.models.loading import load_version
from cairn.models.versions import ModelVersion, get_version
from cairn.store import Store, get_store

FAILED = 1
STDERR_TAIL = 4000  # characters of the child's stderr kept with a failure
PREFIX = "cairn.models.check: "


@dataclass(frozen=True)
class FreshCheck:
    """How the check went in the child process."""

    passed: bool
    reason: str
    seconds: float  # the child's whole life, interpreter start included
    returncode: int | None  # None: it was stopped at the timeout
    report: dict = field(default_factory=dict)  # the child's JSON: load and predict times
    stderr: str = ""  # the tail of the child's stderr, when it failed


def check_in_fresh_process(store: Store, version: ModelVersion, timeout: float) -> FreshCheck:
    """Run the check of `version` in a new interpreter against `store`, within `timeout`
    seconds."""
    env = {**os.environ, "CAIRN_STORE": _child_store_url(store), "CAIRN_BLOBS": store.blobs.url}
    command = [sys.executable, "-m", "cairn.models.check", str(version)]
    started = time.perf_counter()
    # An empty working directory: modules that only the caller's folder (the training
    # script's) makes importable must not make a model look loadable.
    with tempfile.TemporaryDirectory(prefix="cairn-check-") as cwd:
        try:
            child = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            stderr = _text(exc.stderr)
            return FreshCheck(
                False,
                f"{version} did not load and predict in a fresh process within {timeout:g} s",
                time.perf_counter() - started,
                None,
                stderr=stderr[-STDERR_TAIL:],
            )
    seconds = time.perf_counter() - started
    if child.returncode == 0:
        return FreshCheck(
            True, f"{version} loaded and predicted on its example in a fresh process",
            seconds, 0, _report(child.stdout),
        )  # fmt: skip
    return FreshCheck(
        False,
        f"{version} failed in a fresh process (exit {child.returncode}): "
        f"{_last_line(child.stderr)}",
        seconds,
        child.returncode,
        stderr=child.stderr[-STDERR_TAIL:],
    )


def _child_store_url(store: Store) -> str:
    """`store`'s database URL for a process that runs in another directory: a relative
    SQLite path made absolute (PostgreSQL's keeps its password)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).resolve()))
    return url.render_as_string(hide_password=False)


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _report(stdout: str) -> dict:
    try:
        report = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "it printed nothing on stderr"
    return lines[-1].removeprefix(PREFIX)


def check_version(store: Store, version: ModelVersion) -> dict:
    """Load `version` and predict on its example in this process: the load and predict
    times and what came out. Raises whatever loading or predicting raised."""
    if version.example is None:
        raise InvalidValueError(
            f"{version} has no example to predict on; register it with example= (a few input rows)"
        )
    started = time.perf_counter()
    model = load_version(store, version)
    loaded = time.perf_counter()
    outputs = model.predict(store.get_value(version.example))
    predicted = time.perf_counter()
    return {
        "version": str(version),
        "load_seconds": loaded - started,
        "predict_seconds": predicted - loaded,
        "output": type(outputs).__qualname__,
        "output_shape": list(getattr(outputs, "shape", ())) or None,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"{PREFIX}usage: python -m cairn.models.check NAME/VERSION", file=sys.stderr)
        return FAILED
    try:
        store = get_store()
        report = check_version(store, get_version(args[0], store=store))
    except Exception as exc:
        traceback.print_exc()
        text = " ".join(str(exc).split())
        print(f"{PREFIX}{type(exc).__name__}: {text}", file=sys.stderr)
        return FAILED
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
