"""Prometheus metrics of the server, per model and version, summed across worker processes.

Each call finds its labelled series in a dict of bound `inc`/`observe` methods: prometheus
client's `.labels()` costs about as much again as the update itself, and it runs on every
request. With a multiprocess directory every process writes its own files there
(prometheus_client's multiprocess mode) and `render` reads all of them, so whichever worker
answers GET /metrics reports the whole server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from cairn.errors import InvalidValueError

if TYPE_CHECKING:
    from cairn.serve.batcher import BatchStats

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "cairn_serve_"
# Seconds, for answers that take from a fraction of a millisecond to a few seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# prometheus_client picks the class of every value once, when it is imported, from the
# environment. A Metrics given a directory after that swaps in the multiprocess class while it
# creates its own series, under this lock, and leaves every other metric as it was.
_value_class_lock = threading.Lock()


class Metrics:
    """The server's series. One a process: in multiprocess mode two would write the same
    series in the same files, each over the other's counts."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self._value_class = None
        if multiprocess_dir is not None:
            if not os.path.isdir(multiprocess_dir):
                raise InvalidValueError(
                    f"the metrics directory {multiprocess_dir} does not exist: create it (empty) "
                    "before the worker processes start"
                )
            current = os.environ.get(MULTIPROC_ENV)
            if current not in (None, multiprocess_dir):
                raise InvalidValueError(
                    f"{MULTIPROC_ENV} is {current}, not {multiprocess_dir}: one process writes "
                    "its metrics to one directory"
                )
            os.environ[MULTIPROC_ENV] = multiprocess_dir  # where each process's files go
            if not values.ValueClass._multiprocess:
                self._value_class = values.MultiProcessValue()
        # In multiprocess mode the values live in files, collected at render time.
        registry = None if multiprocess_dir else CollectorRegistry()
        self._registry = registry
        labels = ("model", "version")

        def counter(name: str, doc: str, names: tuple[str, ...] = labels) -> Counter:
            return Counter(f"{PREFIX}{name}", doc, names, registry=registry)

        def histogram(name: str, doc: str, buckets: tuple, names: tuple = labels) -> Histogram:
            return Histogram(f"{PREFIX}{name}", doc, names, registry=registry, buckets=buckets)

        self._requests_total = counter(
            "requests", "Requests answered, by endpoint and HTTP status.",
            (*labels, "endpoint", "status"),
        )  # fmt: skip
        self._request_seconds = histogram(
            "request_seconds", "Time to answer a request, in seconds.", LATENCY_BUCKETS,
            (*labels, "endpoint"),
        )  # fmt: skip
        # In the order of BatchStats' fields.
        self._batch_histograms = (
            histogram("batch_size", "Requests per batch given to the model.", SIZE_BUCKETS),
            histogram("batch_rows", "Rows per batch given to the model.", SIZE_BUCKETS),
            histogram("queue_seconds", "Longest wait of a batch's requests, in seconds.",
                      WAIT_BUCKETS),
            histogram("predict_seconds", "Time the model took to predict a batch, in seconds.",
                      LATENCY_BUCKETS),
        )  # fmt: skip
        self._cache_hits = counter("cache_hits", "Predictions answered from the cache.")
        self._cache_misses = counter("cache_misses", "Predictions not found in the cache.")
        self._errors_total = counter("errors", "Errors, by kind.", ("model", "kind"))
        self._shadow_total = counter(
            "shadow", "Shadow answers, by whether they agreed with the one returned.",
            (*labels, "agreed"),
        )  # fmt: skip
        self._request_series: dict[tuple, tuple[Callable, Callable]] = {}
        self._batch_series: dict[tuple, tuple[Callable, ...]] = {}
        self._cache_series: dict[tuple, Callable] = {}
        self._error_series: dict[tuple, Callable] = {}
        self._shadow_series: dict[tuple, Callable] = {}

    def request(
        self, model: str, version: int | str, endpoint: str, status: int, seconds: float
    ) -> None:
        key = (model, version, endpoint, status)
        try:
            count, observe = self._request_series[key]
        except KeyError:
            count, observe = self._request_series[key] = (
                self._series(self._requests_total, model, version, endpoint, status).inc,
                self._series(self._request_seconds, model, version, endpoint).observe,
            )
        count()
        observe(seconds)

    def batch(self, model: str, version: int, stats: BatchStats) -> None:
        key = (model, version)
        try:
            size, rows, queue, predict = self._batch_series[key]
        except KeyError:
            size, rows, queue, predict = self._batch_series[key] = tuple(
                self._series(metric, model, version).observe for metric in self._batch_histograms
            )
        size(stats.size)
        rows(stats.rows)
        queue(stats.queue_s)
        predict(stats.predict_s)

    def cache(self, model: str, version: int, hit: bool) -> None:
        key = (model, version, hit)
        try:
            count = self._cache_series[key]
        except KeyError:
            metric = self._cache_hits if hit else self._cache_misses
            count = self._cache_series[key] = self._series(metric, model, version).inc
        count()

    def error(self, model: str, kind: str) -> None:
        key = (model, kind)
        try:
            count = self._error_series[key]
        except KeyError:
            count = self._error_series[key] = self._series(self._errors_total, model, kind).inc
        count()

    def shadow(self, model: str, version: int, agreed: bool) -> None:
        """A shadow version answered a copy of a request, the same as the primary or not."""
        key = (model, version, agreed)
        try:
            count = self._shadow_series[key]
        except KeyError:
            agreement = "true" if agreed else "false"
            series = self._series(self._shadow_total, model, version, agreement)
            count = self._shadow_series[key] = series.inc
        count()

    def render(self) -> tuple[bytes, str]:
        """The body and content type for GET /metrics: every process's series, summed."""
        if self.multiprocess_dir is None:
            return generate_latest(self._registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def mark_dead(self, pid: int) -> None:
        """A worker process ended: prometheus_client's bookkeeping for it (live gauges). Its
        counters and histograms stay in the sums, as they should."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(pid, self.multiprocess_dir)

    def _series(self, metric: Counter | Histogram, *labels: object) -> Counter | Histogram:
        if self._value_class is None:
            return metric.labels(*labels)
        with _value_class_lock:
            saved, values.ValueClass = values.ValueClass, self._value_class
            try:
                return metric.labels(*labels)
            finally:
                values.ValueClass = saved
