"""Pull side: read a vLLM deployment's Prometheus ``/metrics`` into :class:`LoadSnapshot`.

Works with any vLLM (0.9 onwards) without installing anything into it. A live body is ~50 KB;
lines are pre-filtered by the few wanted prefixes (~0.1 ms) before prometheus-client's parser
(~10 ms for the whole body). Old and new metric names are both accepted; ``*_created``
companions are ignored; a metric that is absent stays ``None`` ("missing"), never 0. A failed
scrape marks nothing: the board lets the deployment go stale, which reads as unknown load.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vllm_hooks.board import LoadBoard
from vllm_hooks.schema import PULL, LoadSnapshot

log = logging.getLogger("vllm_hooks")  # stdlib only: this runs inside vLLM too

# Current name first; older names are read only when the current one is absent.
_GAUGES = {
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
}
_PREEMPTIONS = ("vllm:num_preemptions_total", "vllm:num_preemptions")
_TTFT = "vllm:time_to_first_token_seconds"
_WANTED_PREFIXES = tuple({name for names in _GAUGES.values() for name in names}
                         | set(_PREEMPTIONS) | {_TTFT})


@dataclass
class ScrapeTarget:
    """One deployment's ``/metrics`` URL; ``model_name`` filters a server serving several."""

    deployment: str
    url: str
    model_name: str | None = None


@dataclass
class _Counters:
    """Cumulative values of one engine at the previous scrape, for deltas and rates."""

    at: float
    preemptions: float | None
    ttft_buckets: dict[float, float] = field(default_factory=dict)
    ttft_sum: float = 0.0
    ttft_count: float = 0.0


@dataclass
class _Sample:
    values: dict[str, float] = field(default_factory=dict)  # gauge and counter samples by name
    ttft_buckets: dict[float, float] = field(default_factory=dict)
    ttft_sum: float = 0.0
    ttft_count: float = 0.0

    def first(self, names: tuple[str, ...]) -> float | None:
        """The current name's value, else an old alias's, else None (missing)."""
        return next((self.values[n] for n in names if n in self.values), None)


def prefilter(text: str) -> str:
    """Only the lines (and their ``# TYPE``/``# HELP``) of the families we read."""
    keep = []
    for line in text.splitlines():
        body = line[7:] if line.startswith(("# TYPE ", "# HELP ")) else line
        if body.startswith(_WANTED_PREFIXES):
            keep.append(line)
    return "\n".join(keep) + "\n"


def parse_metrics(text: str, model_name: str | None = None) -> dict[int, _Sample]:
    """Samples per engine index from a ``/metrics`` body (all model names, or one)."""
    # prometheus-client: present wherever this runs (vLLM and the proxy both install it)
    from prometheus_client.parser import text_string_to_metric_families

    engines: dict[int, _Sample] = {}
    for family in text_string_to_metric_families(prefilter(text)):
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name.endswith("_created") or (model_name and labels.get("model_name") not in
                                              (None, model_name)):
                continue
            engine = engines.setdefault(_engine_index(labels), _Sample())
            _take(engine, name, labels, float(sample.value))
    return engines


def _engine_index(labels: dict[str, str]) -> int:
    try:
        return int(labels.get("engine", "0"))
    except ValueError:
        return 0


def _take(engine: _Sample, name: str, labels: dict[str, str], value: float) -> None:
    if name == f"{_TTFT}_bucket":
        engine.ttft_buckets[float(labels["le"])] = value
    elif name == f"{_TTFT}_sum":
        engine.ttft_sum = value
    elif name == f"{_TTFT}_count":
        engine.ttft_count = value
    else:
        engine.values[name] = value


def to_snapshots(deployment: str, samples: dict[int, _Sample], previous: dict[int, _Counters],
                 now: float, wall: float, seq: int, model_name: str | None) -> list[LoadSnapshot]:
    """Snapshots per engine; counters become deltas against ``previous`` (updated in place)."""
    snapshots = []
    for engine, sample in samples.items():
        before = previous.get(engine)
        delta = rate = p50 = mean = None
        preemptions = sample.first(_PREEMPTIONS)
        if before is not None and preemptions is not None and before.preemptions is not None:
            delta = max(0.0, preemptions - before.preemptions)  # a restart resets counters
            rate = delta / max(now - before.at, 1e-6)
        if before is not None and sample.ttft_count > before.ttft_count:
            count = sample.ttft_count - before.ttft_count
            mean = (sample.ttft_sum - before.ttft_sum) / count
            p50 = histogram_quantile(0.5, {le: c - before.ttft_buckets.get(le, 0.0)
                                           for le, c in sample.ttft_buckets.items()})
        previous[engine] = _Counters(now, preemptions, dict(sample.ttft_buckets),
                                     sample.ttft_sum, sample.ttft_count)
        snapshots.append(LoadSnapshot(
            deployment=deployment, engine=engine, running=sample.first(_GAUGES["running"]),
            waiting=sample.first(_GAUGES["waiting"]), kv_usage=sample.first(_GAUGES["kv_usage"]),
            preemptions_delta=delta, preemption_rate=rate, ttft_p50=p50, ttft_mean=mean,
            seq=seq, sent_at=wall, received_at=now, source=PULL, model_name=model_name))
    return snapshots


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus-style quantile from cumulative bucket counts (linear within a bucket)."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width else 1)
        lower_bound, lower_count = bound, count
    return lower_bound


class MetricsScraper:
    """Scrapes every target in one daemon thread, one after another: no overlapping scrapes of
    a target, a per-request timeout below the interval, and a slow target only delays the next
    round. ``interval`` defaults to 0.25 s (gateways scrape every 50 ms; 2 cores here)."""

    def __init__(self, targets: Iterable[ScrapeTarget], board: LoadBoard, *,
                 interval: float = 0.25, timeout: float | None = None,
                 fetch: Callable[[str, float], str] | None = None) -> None:
        self.targets = list(targets)
        self.board = board
        self.interval = interval
        self.timeout = timeout if timeout is not None else max(0.05, interval * 0.8)
        self._fetch = fetch or _http_get
        self._previous: dict[str, dict[int, _Counters]] = {}
        self._seq = 0
        self.scrapes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vllm-hooks-scraper", daemon=True)

    def start(self) -> "MetricsScraper":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + self.interval + 1)

    def scrape_once(self) -> list[LoadSnapshot]:
        """One round over every target; returns what was published."""
        published: list[LoadSnapshot] = []
        for target in self.targets:
            try:
                text = self._fetch(target.url, self.timeout)
                samples = parse_metrics(text, target.model_name)
            except Exception as exc:  # noqa: BLE001 - a failed scrape means "no news", never 0
                self.failures += 1
                log.debug("vllm_hooks: scrape of %s failed: %s", target.url, type(exc).__name__)
                continue
            self._seq += 1
            self.scrapes += 1
            snapshots = to_snapshots(target.deployment, samples,
                                     self._previous.setdefault(target.deployment, {}),
                                     self.board.now(), time.time(), self._seq, target.model_name)
            for snapshot in snapshots:
                self.board.update(snapshot)
            published.extend(snapshots)
        return published

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.scrape_once()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def _http_get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - operator URL
        return response.read().decode("utf-8", "replace")
