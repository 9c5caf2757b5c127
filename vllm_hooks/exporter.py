"""Push side without vLLM: copy stats in ``record()``, publish from a daemon thread.

vLLM calls ``record()`` on its API server's event-loop thread once per engine step (hundreds of
times a second on a GPU). An exception there ends vLLM's output handler and fails every
in-flight request, and any blocking there stalls serving. So :meth:`StepRecorder.record` only
copies a few numbers (``getattr`` with defaults: the stats classes are not a stable API) inside
a try/except; :class:`PushPublisher` turns them into a :class:`LoadSnapshot` at a fixed rate and
sends a fire-and-forget UDP datagram, plus a heartbeat while the engine is idle so that the
receiver can tell idle (heartbeats) from dead (silence, then stale).

Configuration (environment of the vLLM server):
  SEMCACHE_VLLM_PUSH        host:port of the proxy's receiver (unset = plugin stays inactive)
  SEMCACHE_VLLM_DEPLOYMENT  deployment id the proxy knows (default: the served model name)
  SEMCACHE_VLLM_PUSH_HZ     snapshots per second while busy (default 20; heartbeat 1 Hz)
"""

from __future__ import annotations

import collections
import os
import socket
import statistics
import threading
import time
from typing import Any

from vllm_hooks.schema import PUSH, LoadSnapshot

PUSH_ENV, DEPLOYMENT_ENV, RATE_ENV = "SEMCACHE_VLLM_PUSH", "SEMCACHE_VLLM_DEPLOYMENT", "SEMCACHE_VLLM_PUSH_HZ"
HEARTBEAT_SECONDS = 1.0
_TTFT_WINDOW = 256


class StepRecorder:
    """The numbers of one engine, written by ``record()``, read by the publisher thread.

    Plain attribute stores and deque appends are atomic under the GIL: no lock on the hot path.
    """

    def __init__(self, engine: int = 0) -> None:
        self.engine = engine
        self.running: float | None = None
        self.waiting: float | None = None
        self.kv_usage: float | None = None
        self.preempted_total = 0
        self.steps = 0
        self.ttfts: collections.deque[float] = collections.deque(maxlen=_TTFT_WINDOW)
        self.errors = 0

    def record(self, scheduler_stats: Any, iteration_stats: Any) -> None:
        try:
            if scheduler_stats is not None:
                self.running = float(getattr(scheduler_stats, "num_running_reqs", 0) or 0)
                self.waiting = float(getattr(scheduler_stats, "num_waiting_reqs", 0) or 0)
                usage = getattr(scheduler_stats, "kv_cache_usage", None)
                if usage is None:
                    usage = getattr(scheduler_stats, "gpu_cache_usage", None)  # older releases
                if usage is not None:
                    self.kv_usage = float(usage)
            if iteration_stats is not None:
                self.preempted_total += int(getattr(iteration_stats, "num_preempted_reqs", 0) or 0)
                self.ttfts.extend(getattr(iteration_stats, "time_to_first_tokens_iter", None) or ())
            self.steps += 1
        except Exception:  # noqa: BLE001 - never let a stats change break serving
            self.errors += 1


class PushPublisher:
    """Sends the recorders' state to ``target`` from one daemon thread per process."""

    def __init__(self, deployment: str, target: tuple[str, int], *, rate_hz: float = 20.0,
                 model_name: str | None = None) -> None:
        self.deployment = deployment
        self.target = target
        self.period = 1.0 / max(rate_hz, 0.1)
        self.model_name = model_name
        self.recorders: dict[int, StepRecorder] = {}
        self.sent = 0
        self.send_errors = 0
        self._seq = 0
        self._last: dict[int, tuple[int, int, float]] = {}  # engine -> (steps, preempted, time)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="semcache-load-push", daemon=True)

    def recorder(self, engine: int) -> StepRecorder:
        return self.recorders.setdefault(engine, StepRecorder(engine))

    def start(self) -> "PushPublisher":
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._socket.close()

    def publish_once(self, now: float | None = None) -> list[LoadSnapshot]:
        """Send what changed since the last round; a heartbeat where nothing did for 1 s."""
        now = time.monotonic() if now is None else now
        sent = []
        for engine, recorder in list(self.recorders.items()):
            snapshot = self._snapshot(recorder, now)
            if snapshot is None:
                continue
            try:
                self._socket.sendto(snapshot.to_bytes(), self.target)
                self.sent += 1
            except OSError:  # receiver down or buffer full: the next round retries
                self.send_errors += 1
            sent.append(snapshot)
        return sent

    def _snapshot(self, recorder: StepRecorder, now: float) -> LoadSnapshot | None:
        steps, preempted = recorder.steps, recorder.preempted_total
        last_steps, last_preempted, last_time = self._last.get(recorder.engine, (-1, 0, now))
        idle = steps == last_steps
        if idle and now - last_time < HEARTBEAT_SECONDS:
            return None
        ttfts = _drain(recorder.ttfts)
        interval = max(now - last_time, 1e-6)
        delta = preempted - last_preempted
        self._last[recorder.engine] = (steps, preempted, now)
        self._seq += 1
        return LoadSnapshot(
            deployment=self.deployment, engine=recorder.engine, running=recorder.running,
            waiting=recorder.waiting, kv_usage=recorder.kv_usage,
            preemptions_delta=float(delta), preemption_rate=delta / interval if last_steps >= 0 else None,
            ttft_p50=statistics.median(ttfts) if ttfts else None,
            ttft_mean=statistics.fmean(ttfts) if ttfts else None,
            seq=self._seq, sent_at=time.time(), source=PUSH, model_name=self.model_name,
            pid=os.getpid(), heartbeat=idle)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.publish_once()
            except Exception:  # noqa: BLE001 - the exporter must outlive any bug in itself
                self.send_errors += 1


def _drain(values: collections.deque[float]) -> list[float]:
    drained = []
    while values:
        try:
            drained.append(float(values.popleft()))
        except (IndexError, TypeError, ValueError):
            break
    return drained


def parse_target(value: str) -> tuple[str, int]:
    """``host:port`` -> address; raises ValueError with the expected form."""
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{PUSH_ENV} must be host:port, got {value!r}")
    return host, int(port)


def publisher_from_env(default_deployment: str | None) -> PushPublisher | None:
    """The process's publisher, configured from the environment; None when no target is set."""
    target = os.environ.get(PUSH_ENV)
    if not target:
        return None
    deployment = os.environ.get(DEPLOYMENT_ENV) or default_deployment or "vllm"
    rate = float(os.environ.get(RATE_ENV) or 20.0)
    return PushPublisher(deployment, parse_target(target), rate_hz=rate,
                         model_name=default_deployment)
