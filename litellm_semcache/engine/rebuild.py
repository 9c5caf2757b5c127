"""Start-up: load the catalogue from the document store, large shards from their snapshots.

The document store is the source of truth. A snapshot only spares the graph construction of
large HNSW shards; it is reconciled with the store at start (labels whose document is gone are
deleted, missing documents added) and ignored when it does not fit.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import structlog

from litellm_semcache.config import CacheSettings
from litellm_semcache.engine.catalogue import VECTOR_SPACE, Catalogue
from litellm_semcache.index import snapshot
from litellm_semcache.store.base import DocumentStore, Stored
from litellm_semcache.store.document import Document

log = structlog.get_logger("litellm_semcache")


class Rebuilder:
    """Fills a catalogue from a scan of the store."""

    def __init__(self, catalogue: Catalogue, store: DocumentStore, settings: CacheSettings,
                 embedder_name: str, dim: int, clock: Callable[[], float],
                 snapshot_dir: Path | None) -> None:
        self._catalogue = catalogue
        self._store = store
        self._settings = settings
        self._embedder_name = embedder_name
        self._dim = dim
        self._clock = clock
        self._snapshot_dir = snapshot_dir

    def rebuild(self) -> None:
        """Load every usable document; delete undecodable, expired and over-quota ones."""
        gc_was_enabled = gc.isenabled()
        gc.disable()  # 100k short-lived documents would trigger many full collections
        try:
            by_category, stale = self.scan()
        finally:
            if gc_was_enabled:
                gc.enable()
        snapshots = (snapshot.read_all(self._snapshot_dir, self._embedder_name)
                     if self._snapshot_dir is not None else {})
        self._catalogue.continue_labels_after(max(
            (label for snap in snapshots.values() for label in snap.ids.values()), default=0))
        kept: list[Document] = []
        with self._catalogue.lock:
            for category, documents in by_category.items():
                documents.sort(key=lambda doc: doc.created_at)
                quota = self._settings.policy(category).max_entries  # it may have shrunk
                stale.extend(doc.id for doc in documents[:-quota])
                kept.extend(documents[-quota:])
            kept.sort(key=lambda doc: doc.created_at)  # rebuilds each category's recency order
            self._load(kept, snapshots)
        for key in stale:
            self._store.delete(key)
        if len(self._catalogue) or stale:
            log.info("semcache.rebuilt", entries=len(self._catalogue), removed=len(stale),
                     snapshots=len(snapshots))

    def _load(self, documents: list[Document],
              snapshots: dict[tuple[str, str], snapshot.ShardSnapshot]) -> None:
        scopes: dict[str, list[Document]] = {}
        for document in documents:
            scopes.setdefault(document.scope, []).append(document)
        index = self._catalogue.index()
        for scope, members in scopes.items():
            saved = snapshots.get((VECTOR_SPACE, scope))
            labels, vectors = self._catalogue.add_bulk(members, saved.ids if saved else {})
            if saved is not None:
                try:
                    index.load_shard(scope, saved.graph, labels, vectors)
                    continue
                except Exception as exc:  # noqa: BLE001 - an unusable snapshot means "rebuild"
                    log.warning("semcache.snapshot_ignored", scope=scope[:8],
                                reason=str(exc)[:200])
                    index.discard(scope)
            index.add_many(scope, labels, vectors)

    def scan(self) -> tuple[dict[str, list[Document]], list[str]]:
        """Usable documents by category, and the keys of those to delete."""
        now = self._clock()
        stale: list[str] = []
        by_category: dict[str, list[Document]] = {}
        for item in self._store.scan():
            if not isinstance(item, Stored):
                stale.append(item.key)  # undecodable: never served, removed
            elif not self.usable(item.document, now):
                stale.append(item.document.id)
            else:
                by_category.setdefault(item.document.category, []).append(item.document)
        return by_category, stale

    def usable(self, document: Document, now: float) -> bool:
        return (document.expires_at > now and document.category in self._settings.categories
                and document.vector.shape == (self._dim,))
