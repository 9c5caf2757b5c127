"""Keeping each replica's in-process index in step with a shared store.

Every replica owns its HNSW indexes; the shared store (Redis) is the source of truth and
publishes each add, delete and eviction on a change stream. A :class:`Follower` thread per
replica reads the stream from its last position and applies the events to its replica.

Start-up and catch-up: the replica notes the stream position *before* it scans the store, then
follows from that position, so a write that lands during the scan is seen at least once
(applying an event twice is harmless: adds and removes carry a version). When the stream was
trimmed past the follower's position, or the store was unreachable at start, the follower
resyncs the replica from a fresh scan first.

Consistency: eventual. A replica sees another's entry once the follower has read the event and
fetched the document (milliseconds on a LAN, see README). Until then it is a miss; an index
entry whose document is gone is a miss too (the cache verifies every candidate in the store).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import structlog

from litellm_semcache.errors import StoreError
from litellm_semcache.store.document import Document

log = structlog.get_logger("litellm_semcache")

ADD, REMOVE = "add", "remove"
_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Change:
    """One event of the change stream. ``version`` is the document's ``expires_at``: a replica
    applies a removal only to the version it names or an older one."""

    position: str
    op: str
    id: str
    version: float
    category: str
    origin: str


class StreamTrimmed(StoreError):
    """Events after the follower's position were trimmed: it must resync from a scan."""


class ChangeFeed(Protocol):
    """A document store shared by replicas: global quotas and a change stream."""

    def position(self) -> str: ...
    def changes_after(self, position: str, *, block_ms: int, count: int = 500
                      ) -> list[Change]: ...
    def put_within_quota(self, document: Document, max_entries: int,
                         encoded: bytes | None = None) -> list[tuple[str, float]]: ...
    def get(self, key: str) -> Document | None: ...


class Replica(Protocol):
    """What a follower needs from the cache it feeds."""

    def holds(self, entry_id: str, version: float) -> bool: ...
    def adopt(self, document: Document) -> None: ...
    def retire(self, entry_id: str, version: float) -> bool: ...
    def resync(self) -> None: ...


def position_or_none(feed: ChangeFeed) -> str | None:
    """The stream position to follow from, or None when the store is unreachable (the follower
    then resyncs once it is back)."""
    try:
        return feed.position()
    except Exception as exc:  # noqa: BLE001 - start without the store, catch up later
        log.warning("semcache.store_unreachable_at_start", error=type(exc).__name__)
        return None


class Follower:
    """Background thread: stream events -> replica. Survives store outages (retries with
    backoff from the same position)."""

    def __init__(self, replica: Replica, feed: ChangeFeed, position: str | None, *,
                 block_ms: int = 100) -> None:
        self._replica = replica
        self._feed = feed
        self.position = position  # None: resync before following
        self._block_ms = block_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="semcache-follower", daemon=True)
        self.applied = 0  # events applied
        self.resyncs = 0
        self.errors = 0

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
                    log.warning("semcache.follower_error", error=type(exc).__name__,
                                detail=str(exc)[:200])
                self._stop.wait(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
                failures += 1

    def _step(self) -> None:
        if self.position is None:
            position = self._feed.position()  # noted before the scan, as at start
            self._replica.resync()
            self.resyncs += 1
            self.position = position  # last: a reader that sees the position sees the resync
            log.info("semcache.resynced", position=position)
        changes = self._feed.changes_after(self.position, block_ms=self._block_ms)
        for change in changes:
            # Own events too: a write whose reply timed out may still have happened in Redis
            # (and evicted entries); applying is idempotent and cheap for what is already known.
            self._apply(change)
            self.applied += 1
            self.position = change.position  # only after it was applied: a failure retries it

    def _apply(self, change: Change) -> None:
        if change.op == ADD:
            if self._replica.holds(change.id, change.version):
                return
            document = self._feed.get(change.id)
            if document is not None:  # gone already: a later event says so
                self._replica.adopt(document)
        else:
            self._replica.retire(change.id, change.version)
