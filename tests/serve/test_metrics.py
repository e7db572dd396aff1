"""Prometheus metrics: labelled series in the rendered text, and sums across processes that
share a multiprocess directory, including one that imported prometheus_client first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, values
from prometheus_client.parser import text_string_to_metric_families

from cairn.errors import InvalidValueError
from cairn.serve.batcher import BatchStats
from cairn.serve.metrics import MULTIPROC_ENV, Metrics
from tests.conftest import run_python


def samples(metrics: Metrics) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, from what GET /metrics would answer."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def labels(**given: object) -> frozenset:
    return frozenset((k, str(v)) for k, v in given.items())


def test_render_has_every_series_with_its_labels() -> None:
    metrics = Metrics()
    for seconds in (0.0004, 0.003, 0.003):
        metrics.request("digits", 3, "v1", 200, seconds)
    metrics.request("digits", 3, "v1", 503, 0.0001)
    metrics.request("digits", "-", "v2", 404, 0.0002)
    metrics.batch("digits", 3, BatchStats(size=5, rows=7, queue_s=0.0007, predict_s=0.002))
    metrics.batch("digits", 3, BatchStats(size=1, rows=1, queue_s=0.0, predict_s=0.0001))
    metrics.cache("digits", 3, True)
    metrics.cache("digits", 3, False)
    metrics.cache("digits", 3, False)
    metrics.error("digits", "deadline")
    metrics.shadow("digits", 4, agreed=False)
    got = samples(metrics)
    ok = labels(model="digits", version=3, endpoint="v1", status=200)
    assert got["cairn_serve_requests_total", ok] == 3
    assert got["cairn_serve_requests_total", labels(model="digits", version=3, endpoint="v1",
                                                    status=503)] == 1  # fmt: skip
    assert got["cairn_serve_requests_total", labels(model="digits", version="-", endpoint="v2",
                                                    status=404)] == 1  # fmt: skip
    v1 = labels(model="digits", version=3, endpoint="v1")
    assert got["cairn_serve_request_seconds_count", v1] == 4
    assert got["cairn_serve_request_seconds_sum", v1] == pytest.approx(0.0065)
    assert got["cairn_serve_request_seconds_bucket", v1 | {("le", "0.0005")}] == 2
    assert got["cairn_serve_request_seconds_bucket", v1 | {("le", "0.005")}] == 4
    version = labels(model="digits", version=3)
    assert got["cairn_serve_batch_size_count", version] == 2
    assert got["cairn_serve_batch_size_sum", version] == 6
    assert got["cairn_serve_batch_rows_sum", version] == 8
    assert got["cairn_serve_batch_size_bucket", version | {("le", "4.0")}] == 1
    assert got["cairn_serve_queue_seconds_sum", version] == pytest.approx(0.0007)
    assert got["cairn_serve_predict_seconds_sum", version] == pytest.approx(0.0021)
    assert got["cairn_serve_cache_hits_total", version] == 1
    assert got["cairn_serve_cache_misses_total", version] == 2
    assert got["cairn_serve_errors_total", labels(model="digits", kind="deadline")] == 1
    assert got["cairn_serve_shadow_total", labels(model="digits", version=4, agreed="false")] == 1
    # Another Metrics in the same process starts from nothing: its own registry.
    assert ("cairn_serve_requests_total", ok) not in samples(Metrics())


CHILD = """
import os, sys
{before}
from cairn.serve.batcher import BatchStats
from cairn.serve.metrics import Metrics
metrics = Metrics(sys.argv[1] if len(sys.argv) > 1 else {directory!r})
for _ in range({n}):
    metrics.request("digits", 2, "v1", 200, 0.001)
metrics.batch("digits", 2, BatchStats(size={n}, rows={n}, queue_s=0.001, predict_s=0.002))
metrics.cache("digits", 2, True)
{after}
print(os.getpid())
"""


def test_processes_sharing_a_directory_are_summed_wherever_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = str(tmp_path / "metrics")
    os.mkdir(directory)
    pids = []
    # A worker started with the variable set, as `cairn serve --workers` starts them.
    code = CHILD.format(before="", after="", directory=directory, n=3)
    pids.append(int(run_python(code, env={MULTIPROC_ENV: directory}).stdout))
    # One that imported prometheus_client before it knew the directory: its own series go to
    # the files all the same, and a metric of anyone else stays in memory.
    late = CHILD.format(
        before="import prometheus_client",
        after="from prometheus_client import Counter, values\n"
        "assert not values.ValueClass._multiprocess\n"
        "assert Counter('other', 'd', registry=None)._value.__class__ is values.MutexValue",
        directory=directory,
        n=5,
    )
    assert MULTIPROC_ENV not in os.environ
    pids.append(int(run_python(late).stdout))
    assert len(os.listdir(directory)) >= 4  # counters and histograms, a file each per process

    monkeypatch.setenv(MULTIPROC_ENV, directory)
    parent = Metrics(directory)
    for pid in pids:
        parent.mark_dead(pid)  # ended workers' requests still count
    got = samples(parent)
    ok = labels(model="digits", version=2, endpoint="v1", status=200)
    assert got["cairn_serve_requests_total", ok] == 8
    v1 = labels(model="digits", version=2, endpoint="v1")
    assert got["cairn_serve_request_seconds_count", v1] == 8
    assert got["cairn_serve_batch_size_sum", labels(model="digits", version=2)] == 8
    assert got["cairn_serve_cache_hits_total", labels(model="digits", version=2)] == 2


def test_a_directory_must_exist_and_agree_with_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidValueError, match="does not exist"):
        Metrics(str(tmp_path / "missing"))
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(InvalidValueError, match="one process writes its metrics to one"):
        Metrics(str(other))
    # Nothing else in this process was switched to files.
    assert not values.ValueClass._multiprocess
    counter = Counter("cairn_test_other", "d", registry=CollectorRegistry())
    assert isinstance(counter._value, values.MutexValue)
