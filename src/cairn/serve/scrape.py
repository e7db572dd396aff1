"""Reading a running server's /metrics back: per model and version, the requests answered,
latency and batch-size quantiles, cache hits and errors (the series `metrics.py` writes).

Quantiles come from the histograms' buckets as Prometheus' `histogram_quantile` computes
them (linear within the bucket the rank falls in), so they are as coarse as the buckets.
A request rate needs two readings of a counter: `request_rate` takes the reading before;
without one, a series' `_created` time (absent in multiprocess mode) gives the average
since its first request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from cairn.errors import InvalidValueError
from cairn.serve.metrics import PREFIX

NOT_SERVED = "-"  # the model label of requests for no served model (health checks, bad names)


@dataclass
class Buckets:
    """One histogram, summed over the series that make it up (e.g. every endpoint)."""

    counts: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count
    count: float = 0.0
    sum: float = 0.0

    def add(self, bound: float, cumulative: float) -> None:
        self.counts[bound] = self.counts.get(bound, 0.0) + cumulative

    def quantile(self, q: float, interpolate: bool = True) -> float | None:
        """The `q` quantile (0..1), None without observations; at most the highest finite
        bound when the rank falls in the +Inf bucket, as Prometheus answers. Without
        `interpolate`, the upper bound of the bucket it falls in: for counts such as batch
        sizes, where a value between two bounds (1.5 requests) means nothing."""
        bounds = sorted(self.counts)
        total = self.counts.get(math.inf, self.count)
        if not bounds or total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for bound in bounds:
            cumulative = self.counts[bound]
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower
                if not interpolate:
                    return bound
                inside = cumulative - below
                share = 0.0 if inside <= 0 else (rank - below) / inside
                return lower + (bound - lower) * share
            lower, below = bound, cumulative
        return lower

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None


@dataclass
class VersionStats:
    """What a server says about one model version (version "-": requests that reached no
    version, such as a refused body or the metadata routes)."""

    model: str
    version: str
    requests: float = 0.0
    failed: float = 0.0  # answered with a 4xx or 5xx
    by_endpoint: dict[str, float] = field(default_factory=dict)
    latency: Buckets = field(default_factory=Buckets)  # seconds
    batch_size: Buckets = field(default_factory=Buckets)  # requests per batch
    batch_rows: Buckets = field(default_factory=Buckets)
    cache_hits: float = 0.0
    cache_misses: float = 0.0
    created: float | None = None  # when its first request was counted (server clock)

    @property
    def hit_ratio(self) -> float | None:
        looked = self.cache_hits + self.cache_misses
        return self.cache_hits / looked if looked else None

    def request_rate(self, before: VersionStats | None, seconds: float, now: float) -> float | None:
        """Requests a second since `before` (the same series read `seconds` earlier), or on
        average since the series was created if there is no earlier reading."""
        if before is not None and seconds > 0:
            grown = self.requests - before.requests
            return (self.requests if grown < 0 else grown) / seconds  # < 0: it restarted
        if self.created is not None and now > self.created:
            return self.requests / (now - self.created)
        return None


@dataclass
class ServerStats:
    versions: dict[tuple[str, str], VersionStats] = field(default_factory=dict)
    errors: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> kind -> count

    def of(self, model: str, version: str) -> VersionStats:
        key = (model, version)
        if key not in self.versions:
            self.versions[key] = VersionStats(model, version)
        return self.versions[key]

    def ordered(self) -> list[VersionStats]:
        """By model, then version number; what reached no model or version last."""

        def order(stats: VersionStats) -> tuple:
            version = int(stats.version) if stats.version.isdigit() else math.inf
            return (stats.model == NOT_SERVED, stats.model, version)

        return sorted(self.versions.values(), key=order)


def parse_metrics(text: str) -> ServerStats:
    """The stats in a /metrics body; series of other programs are left out."""
    stats = ServerStats()
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise InvalidValueError(f"not a Prometheus metrics page: {exc}") from exc
    for family in families:
        if not family.name.startswith(PREFIX):
            continue
        name = family.name[len(PREFIX) :]
        for sample in family.samples:
            _take(stats, name, sample.name[len(PREFIX) :], sample.labels, sample.value)
    return stats


_HISTOGRAMS = {"request_seconds": "latency", "batch_size": "batch_size", "batch_rows": "batch_rows"}


def _take(stats: ServerStats, family: str, sample: str, labels: dict, value: float) -> None:
    model, version = labels.get("model", NOT_SERVED), labels.get("version", NOT_SERVED)
    if family == "requests_created":
        series = stats.of(model, version)
        series.created = value if series.created is None else min(series.created, value)
    elif family == "requests" and sample == "requests_total":
        series = stats.of(model, version)
        series.requests += value
        endpoint = labels.get("endpoint", "")
        series.by_endpoint[endpoint] = series.by_endpoint.get(endpoint, 0.0) + value
        if labels.get("status", "").isdigit() and int(labels["status"]) >= 400:
            series.failed += value
    elif family in _HISTOGRAMS:
        buckets: Buckets = getattr(stats.of(model, version), _HISTOGRAMS[family])
        if sample == family + "_bucket":
            buckets.add(float(labels["le"]), value)
        elif sample == family + "_count":
            buckets.count += value
        elif sample == family + "_sum":
            buckets.sum += value
    elif family in ("cache_hits", "cache_misses") and sample == family + "_total":
        series = stats.of(model, version)
        setattr(series, family, getattr(series, family) + value)
    elif family == "errors" and sample == "errors_total":
        kinds = stats.errors.setdefault(model, {})
        kinds[labels.get("kind", "")] = kinds.get(labels.get("kind", ""), 0.0) + value
