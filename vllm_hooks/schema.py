"""``LoadSnapshot``: one deployment engine's load at one moment, from either source.

``None`` in a signal field means "metric missing" (old server, no sample yet), never zero: a
missing KV gauge must not read as an idle server.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace

PUSH, PULL = "push", "pull"
MAX_DATAGRAM = 1024  # bytes; a snapshot encodes to ~250


@dataclass(frozen=True, slots=True)
class LoadSnapshot:
    deployment: str  # model_info.id or api_base the proxy routes to
    engine: int = 0  # vLLM data-parallel engine index
    running: float | None = None  # requests in the running batch
    waiting: float | None = None  # requests queued for capacity
    kv_usage: float | None = None  # fraction 0..1 of KV blocks in use
    preemptions_delta: float | None = None  # preemptions since the previous snapshot
    preemption_rate: float | None = None  # per second over that interval
    ttft_p50: float | None = None  # seconds, over the interval's first tokens
    ttft_mean: float | None = None
    seq: int = 0  # per sender, monotonic: the receiver drops reordered datagrams
    sent_at: float = 0.0  # sender wall clock (seconds since epoch)
    received_at: float = 0.0  # receiver monotonic clock, set on arrival
    source: str = PUSH
    model_name: str | None = None  # served model name, as vLLM labels it
    pid: int | None = None
    heartbeat: bool = False  # no engine step since the last snapshot (idle, not dead)

    def to_bytes(self) -> bytes:
        body = {k: v for k, v in asdict(self).items() if v is not None and k != "received_at"}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, received_at: float = 0.0) -> "LoadSnapshot":
        """Decode a datagram; raises ValueError on anything malformed (the receiver counts it)."""
        if len(data) > MAX_DATAGRAM:
            raise ValueError("datagram too large")
        body = json.loads(data)
        if not isinstance(body, dict) or not isinstance(body.get("deployment"), str):
            raise ValueError("not a load snapshot")
        unknown = set(body) - _FIELDS
        for key in unknown:
            body.pop(key)  # newer senders may add fields
        for key in _NUMBERS & set(body):
            value = body[key]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise ValueError(f"{key} is not a finite number")
        return replace(cls(**body), received_at=received_at)


_FIELDS = {f.name for f in fields(LoadSnapshot)}
_NUMBERS = {"engine", "running", "waiting", "kv_usage", "preemptions_delta", "preemption_rate",
            "ttft_p50", "ttft_mean", "seq", "sent_at", "pid"}

