"""``LoadBoard``: the latest snapshot per (deployment, engine), from push and pull alike.

Several API-server processes may push for one engine: the board keeps the newest by sender
clock and never sums across senders. Engines of one deployment are aggregated when read (sum of
queues, max KV usage). A deployment that has not reported within ``stale_after`` seconds reads
as unknown (``None``), which the policy treats as normal load: a dead exporter must never keep a
model "overloaded forever".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from vllm_hooks.schema import LoadSnapshot


class LoadBoard:
    def __init__(self, stale_after: float = 2.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = stale_after
        self._clock = clock
        self._latest: dict[tuple[str, int], LoadSnapshot] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []
        self.updates = 0

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(deployment)`` after every accepted update (on the sender's thread)."""
        self._listeners.append(listener)

    def now(self) -> float:
        """The board's clock (monotonic seconds), which ``received_at`` is measured on."""
        return self._clock()

    def update(self, snapshot: LoadSnapshot) -> bool:
        """Keep ``snapshot`` unless an equally new one from the same sender is held."""
        if not snapshot.received_at:
            snapshot = replace(snapshot, received_at=self._clock())
        key = (snapshot.deployment, snapshot.engine)
        with self._lock:
            held = self._latest.get(key)
            if (held is not None and snapshot.seq and held.pid == snapshot.pid
                    and held.source == snapshot.source and snapshot.seq <= held.seq):
                return False  # reordered or duplicated datagram from the same sender
            self._latest[key] = snapshot
            self.updates += 1
        for listener in self._listeners:
            listener(snapshot.deployment)
        return True

    def get(self, deployment: str) -> LoadSnapshot | None:
        """The deployment's current load over its engines, or None when unknown or stale."""
        now = self._clock()
        with self._lock:
            fresh = [s for (name, _), s in self._latest.items()
                     if name == deployment and now - s.received_at <= self.stale_after]
        if not fresh:
            return None
        if len(fresh) == 1:
            return fresh[0]
        return _combine(fresh)

    def deployments(self) -> list[str]:
        with self._lock:
            return sorted({name for name, _ in self._latest})


def _combine(parts: list[LoadSnapshot]) -> LoadSnapshot:
    newest = max(parts, key=lambda s: s.received_at)
    return replace(
        newest, engine=-1,
        running=_total([s.running for s in parts]), waiting=_total([s.waiting for s in parts]),
        kv_usage=_peak([s.kv_usage for s in parts]),
        preemptions_delta=_total([s.preemptions_delta for s in parts]),
        preemption_rate=_total([s.preemption_rate for s in parts]),
        ttft_p50=_peak([s.ttft_p50 for s in parts]), ttft_mean=_peak([s.ttft_mean for s in parts]),
    )


def _total(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _peak(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
