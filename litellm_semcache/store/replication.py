"""Keeping each replica's in-process index in step with a shared store.

Every replica owns its HNSW indexes; the shared store (Redis) is the source of truth and
publishes each add, delete and eviction on a change stream, one per category (a category's
documents, quota and stream share one Redis Cluster hash slot, so every write is one atomic
script on one node). A :class:`Follower` thread per stream reads it from its last position
and applies the events to its replica.

Positions: each event carries the stream's ordinal ``n`` (1, 2, 3, ... per stream), so a
follower knows exactly whether it missed events. Events after its position trimmed away, or
an ordinal that went backwards (a failover promoted a replica that had not received the last
writes, or the stream was deleted), make it resync that category from a scan of the store.

Start-up and catch-up: the replica notes the stream position *before* it scans the store (or
takes the position saved with its snapshot), then follows from that position, so a write that
lands during the scan is seen at least once (applying an event twice is harmless: adds and
removes carry a version).

Consistency: eventual. A replica sees another's entry once the follower has read the event and
fetched the document (milliseconds on a LAN, see README). Until then it is a miss; an index
entry whose document is gone is a miss too (the cache verifies every candidate in the store).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from litellm_semcache.errors import StoreError
from litellm_semcache.store.document import Document

log = structlog.get_logger("litellm_semcache")

ADD, REMOVE = "add", "remove"
_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0)
_BATCH = 500


@dataclass(frozen=True)
class Position:
    """A place in one stream: the Redis stream id and the ordinal of that event."""

    id: str = "0-0"
    n: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "n": self.n}

    @classmethod
    def from_json(cls, value: Any) -> "Position | None":
        try:
            return cls(str(value["id"]), int(value["n"]))
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def order(self) -> tuple[int, int]:
        milliseconds, _, sequence = self.id.partition("-")
        return int(milliseconds or 0), int(sequence or 0)

    @property
    def milliseconds(self) -> int:
        return self.order[0]


@dataclass(frozen=True)
class Change:
    """One event of a change stream. ``version`` is the document's ``expires_at``: a replica
    applies a removal only to the version it names or an older one."""

    position: Position
    op: str
    id: str
    version: float
    category: str
    origin: str


class StreamTrimmed(StoreError):
    """Events after the follower's position are gone: it must resync from a scan."""


class ChangeFeed(Protocol):
    """A document store shared by replicas: global quotas and a change stream per category."""

    def position(self, stream: str) -> Position: ...
    def changes_after(self, stream: str, position: Position, *, block_ms: int,
                      count: int = _BATCH) -> list[Change]: ...
    def put_within_quota(self, document: Document, max_entries: int,
                         encoded: bytes | None = None) -> list[tuple[str, float]]: ...
    def get(self, key: str, category: str | None = None) -> Document | None: ...


class Replica(Protocol):
    """What a follower needs from the cache it feeds."""

    def holds(self, entry_id: str, version: float) -> bool: ...
    def adopt(self, document: Document) -> None: ...
    def retire(self, entry_id: str, version: float, category: str | None = None) -> bool: ...
    def resync(self, category: str) -> None: ...


def position_or_none(feed: ChangeFeed, stream: str) -> Position | None:
    """The stream position to follow from, or None when the store is unreachable (the follower
    then resyncs once it is back)."""
    try:
        return feed.position(stream)
    except Exception as exc:  # noqa: BLE001 - start without the store, catch up later
        log.warning("semcache.store_unreachable_at_start", stream=stream, error=type(exc).__name__)
        return None


class Follower:
    """Background thread: one stream's events -> replica. Survives store outages (retries
    with backoff from the same position)."""

    def __init__(self, replica: Replica, feed: ChangeFeed, stream: str, position: Position | None,
                 *, block_ms: int = 100) -> None:
        self._replica = replica
        self._feed = feed
        self.stream = stream
        self.position = position  # None: resync before following
        self._block_ms = block_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"semcache-follower-{stream}",
                                        daemon=True)
        self.applied = 0  # events applied
        self.resyncs = 0
        self.errors = 0
        self.lag_entries = 0  # events in the stream after the position, at the last read
        self.behind_since: float | None = None  # wall time of the oldest unapplied event
        self._checked_head = time.monotonic()

    @property
    def lag_seconds(self) -> float:
        """How long the oldest change this replica has not applied yet has been waiting."""
        return 0.0 if self.behind_since is None else max(0.0, time.time() - self.behind_since)

    def start(self) -> "Follower":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._step()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - keep following whatever happens
                self.errors += 1
                if isinstance(exc, StreamTrimmed):
                    self.position = None
                if failures == 0:
                    log.warning("semcache.follower_error", stream=self.stream,
                                error=type(exc).__name__, detail=str(exc)[:200])
                self._stop.wait(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
                failures += 1

    def _step(self) -> None:
        if self.position is None:
            position = self._feed.position(self.stream)  # noted before the scan, as at start
            self._replica.resync(self.stream)
            self.resyncs += 1
            self.position = position  # last: a reader that sees the position sees the resync
            log.info("semcache.resynced", stream=self.stream, position=position.id)
        changes = self._feed.changes_after(self.stream, self.position, block_ms=self._block_ms)
        if changes and changes[0].position.n != self.position.n + 1:
            raise StreamTrimmed(f"stream {self.stream}: expected event {self.position.n + 1}, "
                                f"got {changes[0].position.n} (trimmed, or lost in a failover)")
        if changes:
            self.behind_since = changes[0].position.milliseconds / 1000
        for change in changes:
            # Own events too: a write whose reply timed out may still have happened in Redis
            # (and evicted entries); applying is idempotent and cheap for what is already known.
            self._apply(change)
            self.applied += 1
            self.position = change.position  # only after it was applied: a failure retries it
        if len(changes) < _BATCH:
            self.lag_entries, self.behind_since = 0, None
            if not changes and time.monotonic() - self._checked_head > 1.0:
                self._check_head()
        else:
            head = self._feed.position(self.stream)
            self.lag_entries = max(0, head.n - self.position.n)

    def _check_head(self) -> None:
        """Idle for a second: the stream's newest event must be ours. A head with another
        ordinal that XREAD does not return means events were written with ids at or below
        our position (a promoted replica whose clock is behind): resync."""
        self._checked_head = time.monotonic()
        head = self._feed.position(self.stream)
        assert self.position is not None
        if head.n != self.position.n and head.order <= self.position.order:
            raise StreamTrimmed(f"stream {self.stream}: its head {head.id} (event {head.n}) "
                                f"is not after this replica's position {self.position.id}")

    def _apply(self, change: Change) -> None:
        if change.op == ADD:
            if self._replica.holds(change.id, change.version):
                return
            document = self._feed.get(change.id, category=change.category)
            if document is not None:  # gone already: a later event says so
                self._replica.adopt(document)
        else:
            self._replica.retire(change.id, change.version, change.category)
