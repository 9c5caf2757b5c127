"""How this replica shares its store: the one object that knows the deployment kind.

- :class:`LocalDeployment` (diskcache): this process owns the quota of each category (it
  evicts its least recently used entries), writes the vector log beside the store and saves
  index snapshots there; a start loads the snapshot and replays the log after it.
- :class:`SharedDeployment` (Redis, one server or a cluster): the store enforces each quota
  across all replicas in the same atomic write and publishes every change on a stream per
  category, which follower threads apply here. With ``store.snapshot_path`` a replica also
  saves its index there and, at the next start, follows the streams from the saved positions
  instead of scanning Redis.

The engine is handed one of these and never asks which one it got.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from litellm_semcache.breaker import CircuitBreaker
from litellm_semcache.errors import ConfigError
from litellm_semcache.store.base import DocumentStore
from litellm_semcache.store.document import Document
from litellm_semcache.store.replication import (
    ChangeFeed,
    Follower,
    Position,
    Replica,
    position_or_none,
)
from litellm_semcache.store.vector_log import VectorLog

if TYPE_CHECKING:
    from litellm_semcache.config import StoreSettings

log = structlog.get_logger("litellm_semcache")
_COMPACT_SLACK = 10_000  # log records beyond twice the entries before a rewrite pays off


class Holder(Protocol):
    """What a deployment needs from the in-memory catalogue while it writes."""

    def add(self, document: Document) -> object: ...
    def evict_for(self, document: Document, quota: int) -> list[str]: ...
    def retire(self, entry_id: str, version: float, category: str | None = None) -> bool: ...
    def __len__(self) -> int: ...


class Starter(Protocol):
    """What a deployment needs at start (the engine's :class:`Rebuilder`)."""

    def load_snapshot(self) -> dict[str, Any] | None: ...
    def rebuild(self, vector_log: VectorLog | None = None) -> None: ...
    def replay(self, vector_log: VectorLog, saved: dict[str, Any] | None) -> bool: ...
    def reconcile(self, vector_log: VectorLog) -> None: ...
    def check_store(self) -> object: ...


class Deployment(Protocol):
    store: DocumentStore
    snapshot_dir: Path | None  # where index snapshots go; None = rebuild at every start
    followers: dict[str, Follower]  # change-stream followers by stream (for metrics)
    breakers: list[CircuitBreaker]  # the store's circuit breakers (for metrics)
    remote: bool  # a document read is a network round trip: never on an event loop

    def write(self, document: Document, encoded: bytes, quota: int, holder: Holder) -> int:
        """Store ``document`` within the category ``quota`` and index it in ``holder``;
        returns how many entries were evicted to make room."""
        ...

    def start(self, starter: Starter, replica: Replica) -> None:
        """Load the index and keep it in step with the store from then on."""
        ...

    def position(self, holder: Holder, now: float) -> dict[str, Any]:
        """Where the change feed stands, saved with a snapshot (called under the catalogue
        lock, so it never runs ahead of what the snapshot holds)."""
        ...

    def excess_bytes(self, headroom: float = 0.0) -> int:
        """How far the store is above ``(1 - headroom)`` of its size limit (0: within it, or
        no limit here)."""
        ...

    def close(self) -> None: ...


class LocalDeployment:
    """``size_limit``: (limit in bytes, how to measure the store's size) when the store has a
    limit. It is held by the engine's own eviction; diskcache's eviction stays off, because its
    LRU bookkeeping turns every read into a write."""

    remote = False  # diskcache or memory: a read is microseconds

    def __init__(self, store: DocumentStore, snapshot_dir: Path | None,
                 vector_log: VectorLog | None = None, *,
                 size_limit: tuple[int, Callable[[], int]] | None = None) -> None:
        self.store = store
        self.snapshot_dir = snapshot_dir
        self.vector_log = vector_log
        self._size_limit = size_limit
        self.check: object | None = None  # the background store check of the last start
        self.followers: dict[str, Follower] = {}
        self.breakers: list[CircuitBreaker] = []

    def write(self, document: Document, encoded: bytes, quota: int, holder: Holder) -> int:
        victims = holder.evict_for(document, quota)
        for victim in victims:
            self.store.delete(victim, category=document.category)
        # The store is the source of truth: write it before the index can point at it.
        self.store.put(document, encoded)
        holder.add(document)
        return len(victims)

    def start(self, starter: Starter, replica: Replica) -> None:
        saved = starter.load_snapshot()
        if saved is None:
            starter.rebuild(self.vector_log)
        elif self.vector_log is not None and not starter.replay(self.vector_log, saved):
            starter.reconcile(self.vector_log)
        self.check = starter.check_store()

    def position(self, holder: Holder, now: float) -> dict[str, Any]:
        """The vector log's position; a log much longer than what is held is compacted first
        (at most once per snapshot, so the rewrite never runs on the request path)."""
        if self.vector_log is None:
            return {}
        current = self.vector_log.position()
        if current is not None and current.records > 2 * len(holder) + _COMPACT_SLACK:
            dropped = self.vector_log.compact(now)
            log.info("semcache.vector_log_compacted", dropped=dropped)
            current = self.vector_log.position()
        return {"log": current.as_json()} if current is not None else {}

    def excess_bytes(self, headroom: float = 0.0) -> int:
        if self._size_limit is None:
            return 0
        limit, volume = self._size_limit
        return max(0, volume() - int(limit * (1 - headroom)))

    def close(self) -> None:
        self.store.close()


class SharedDeployment:
    remote = True  # Redis: a read can take up to redis_timeout_ms

    def __init__(self, feed: "SharedStore", follow_block_ms: int, streams: Iterable[str],
                 snapshot_dir: Path | None = None) -> None:
        self.store = feed
        self._feed = feed
        self._block_ms = follow_block_ms
        self.streams = list(streams)  # one change stream per category
        self.snapshot_dir = snapshot_dir
        self.followers: dict[str, Follower] = {}
        self.breakers: list[CircuitBreaker] = [feed.breaker]
        self.replica: Replica | None = None

    @property
    def follower(self) -> Follower | None:
        """The first category's follower (one server: all of them behave alike)."""
        return next(iter(self.followers.values()), None)

    def write(self, document: Document, encoded: bytes, quota: int, holder: Holder) -> int:
        """The store evicts across replicas (soonest expiry first) in the same atomic write;
        this replica forgets the victims now, the others when the stream tells them."""
        evicted = self._feed.put_within_quota(document, quota, encoded)
        holder.add(document)
        return sum(holder.retire(entry_id, version, document.category)
                   for entry_id, version in evicted)

    def excess_bytes(self, headroom: float = 0.0) -> int:
        return 0  # Redis keeps its own memory limit (maxmemory); quotas are global here

    def start(self, starter: Starter, replica: Replica) -> None:
        """From the snapshot's stream positions, or: note the positions, scan, then follow
        from them. An unreachable store does not stop the start: the cache runs empty until
        each follower resyncs its category."""
        self.replica = replica
        saved = starter.load_snapshot()
        positions: dict[str, Position | None] = {}
        if saved is not None:
            streams = saved.get("streams") or {}
            positions = {name: Position.from_json(streams.get(name)) for name in self.streams}
        else:
            positions = {name: position_or_none(self._feed, name) for name in self.streams}
            if all(position is not None for position in positions.values()):
                try:
                    starter.rebuild(None)
                except Exception as exc:  # noqa: BLE001 - fail open: start empty, resync later
                    log.warning("semcache.fail_open", operation="rebuild",
                                error=type(exc).__name__, detail=str(exc)[:200])
                    positions = {}
            else:
                positions = {}
        self.followers = {name: Follower(replica, self._feed, name, positions.get(name),
                                         block_ms=self._block_ms).start()
                          for name in self.streams}

    def position(self, holder: Holder, now: float) -> dict[str, Any]:
        return {"streams": {name: follower.position.as_json()
                            for name, follower in self.followers.items()
                            if follower.position is not None}}

    def close(self) -> None:
        for follower in self.followers.values():
            follower.stop()
        self.store.close()


class SharedStore(DocumentStore, ChangeFeed, Protocol):
    """A document store that is also a change feed with global quotas (Redis)."""

    breaker: CircuitBreaker


def open_deployment(settings: "StoreSettings", categories: Iterable[str] = ()) -> Deployment:
    """The store the policy names (``store.backend``), wrapped in its deployment kind;
    ``categories`` are the change streams a Redis replica follows."""
    if settings.backend == "redis":
        from litellm_semcache.store.redis_store import RedisStore  # the redis client is an extra

        store = RedisStore(settings.redis_url, prefix=settings.redis_prefix,
                           timeout_ms=settings.redis_timeout_ms,
                           stream_max_len=settings.redis_stream_max_len,
                           cluster=settings.redis_cluster,
                           wait_replicas=settings.redis_wait_replicas, categories=categories)
        snapshots = Path(settings.snapshot_path) if settings.snapshot_path else None
        return SharedDeployment(store, max(10, int(settings.redis_timeout_ms / 2)), categories,
                                snapshots)
    from litellm_semcache.store.diskcache_store import DiskcacheStore
    from litellm_semcache.store.logged_store import LoggedStore

    store_dir = Path(settings.path)
    try:
        disk = DiskcacheStore(store_dir, settings.size_limit_mb)
        vector_log = VectorLog(store_dir)
    except (OSError, sqlite3.Error) as exc:  # a file there, no permission, a read-only disk
        why = ("it is a file, not a directory" if store_dir.exists() and not store_dir.is_dir()
               else getattr(exc, "strerror", None) or str(exc))
        raise ConfigError(f"store.path: cannot use {store_dir} as the cache store: {why}") from None
    return LocalDeployment(LoggedStore(disk, vector_log),
                           Path(settings.snapshot_path) if settings.snapshot_path
                           else store_dir / "index-snapshot", vector_log,
                           size_limit=(settings.size_limit_mb * 2**20, disk.volume))


def open_store(settings: "StoreSettings", categories: Iterable[str] = ()) -> DocumentStore:
    """Just the document store (the CLI reads and deletes; deletions reach running replicas)."""
    return open_deployment(settings, categories).store
