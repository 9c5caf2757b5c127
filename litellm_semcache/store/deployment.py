"""How this replica shares its store: the one object that knows the deployment kind.

- :class:`LocalDeployment` (diskcache): this process owns the quota of each category (it
  evicts its least recently used entries) and saves index snapshots beside the store.
- :class:`SharedDeployment` (Redis): the store enforces each quota across all replicas in the
  same atomic write and publishes every change, which a follower thread applies here.

The engine is handed one of these and never asks which one it got.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import structlog

from litellm_semcache.errors import ConfigError
from litellm_semcache.store.base import DocumentStore
from litellm_semcache.store.document import Document
from litellm_semcache.store.replication import ChangeFeed, Follower, Replica, position_or_none

if TYPE_CHECKING:
    from litellm_semcache.config import StoreSettings

log = structlog.get_logger("litellm_semcache")


class Holder(Protocol):
    """What a deployment needs from the in-memory catalogue while it writes."""

    def add(self, document: Document) -> object: ...
    def evict_for(self, document: Document, quota: int) -> list[str]: ...
    def retire(self, entry_id: str, version: float) -> bool: ...


class Deployment(Protocol):
    store: DocumentStore
    snapshot_dir: Path | None  # where index snapshots go; None = rebuild from the store
    remote: bool  # a document read is a network round trip: never on an event loop

    def write(self, document: Document, encoded: bytes, quota: int, holder: Holder) -> int:
        """Store ``document`` within the category ``quota`` and index it in ``holder``;
        returns how many entries were evicted to make room."""
        ...

    def start(self, rebuild: Callable[[], None], replica: Replica) -> None:
        """Load the index (``rebuild``) and keep it in step with the store from then on."""
        ...

    def close(self) -> None: ...


class LocalDeployment:
    remote = False  # diskcache or memory: a read is microseconds

    def __init__(self, store: DocumentStore, snapshot_dir: Path | None) -> None:
        self.store = store
        self.snapshot_dir = snapshot_dir

    def write(self, document: Document, encoded: bytes, quota: int, holder: Holder) -> int:
        victims = holder.evict_for(document, quota)
        for victim in victims:
            self.store.delete(victim)
        # The store is the source of truth: write it before the index can point at it.
        self.store.put(document, encoded)
        holder.add(document)
        return len(victims)

    def start(self, rebuild: Callable[[], None], replica: Replica) -> None:
        rebuild()

    def close(self) -> None:
        self.store.close()


class SharedDeployment:
    snapshot_dir = None  # replicas of a shared store rebuild from it (snapshots are per machine)
    remote = True  # Redis: a read can take up to redis_timeout_ms

    def __init__(self, feed: "SharedStore", follow_block_ms: int) -> None:
        self.store = feed
        self._feed = feed
        self._block_ms = follow_block_ms
        self.follower: Follower | None = None
        self.replica: Replica | None = None

    def write(self, document: Document, encoded: bytes, quota: int, holder: Holder) -> int:
        """The store evicts across replicas (soonest expiry first) in the same atomic write;
        this replica forgets the victims now, the others when the stream tells them."""
        evicted = self._feed.put_within_quota(document, quota, encoded)
        holder.add(document)
        return sum(holder.retire(entry_id, version) for entry_id, version in evicted)

    def start(self, rebuild: Callable[[], None], replica: Replica) -> None:
        """Note the stream position, scan, then follow from it. An unreachable store does not
        stop the start: the cache runs empty until the follower resyncs it."""
        self.replica = replica
        position = position_or_none(self._feed)
        if position is not None:
            try:
                rebuild()
            except Exception as exc:  # noqa: BLE001 - fail open: start empty, resync later
                log.warning("semcache.fail_open", operation="rebuild", error=type(exc).__name__,
                            detail=str(exc)[:200])
                position = None
        self.follower = Follower(replica, self._feed, position, block_ms=self._block_ms).start()

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.store.close()


class SharedStore(DocumentStore, ChangeFeed, Protocol):
    """A document store that is also a change feed with global quotas (Redis)."""


def open_deployment(settings: "StoreSettings") -> Deployment:
    """The store the policy names (``store.backend``), wrapped in its deployment kind."""
    if settings.backend == "redis":
        from litellm_semcache.store.redis_store import RedisStore  # the redis client is an extra

        store = RedisStore(settings.redis_url, prefix=settings.redis_prefix,
                           timeout_ms=settings.redis_timeout_ms,
                           stream_max_len=settings.redis_stream_max_len)
        return SharedDeployment(store, follow_block_ms=max(10, int(settings.redis_timeout_ms / 2)))
    from litellm_semcache.store.diskcache_store import DiskcacheStore

    store_dir = Path(settings.path)
    try:
        store = DiskcacheStore(store_dir, settings.size_limit_mb)
    except (OSError, sqlite3.Error) as exc:  # a file there, no permission, a read-only disk
        why = ("it is a file, not a directory" if store_dir.exists() and not store_dir.is_dir()
               else getattr(exc, "strerror", None) or str(exc))
        raise ConfigError(f"store.path: cannot use {store_dir} as the cache store: {why}") from None
    return LocalDeployment(store, store_dir / "index-snapshot")


def open_store(settings: "StoreSettings") -> DocumentStore:
    """Just the document store (the CLI reads and deletes; deletions reach running replicas)."""
    return open_deployment(settings).store
