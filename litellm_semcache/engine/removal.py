"""Removing entries from memory and store together, counting why they left."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from litellm_semcache.engine.catalogue import Catalogue, Entry
from litellm_semcache.observability.metrics import Recorder
from litellm_semcache.store.base import DocumentStore

log = structlog.get_logger("litellm_semcache")


class Remover:
    def __init__(self, catalogue: Catalogue, store: DocumentStore, recorder: Recorder,
                 clock: Callable[[], float]) -> None:
        self._catalogue = catalogue
        self._store = store
        self._recorder = recorder
        self._clock = clock

    def drop(self, entry: Entry, *, expired: bool = False) -> None:
        """Forget ``entry`` and delete its document (e.g. found expired or missing on read)."""
        if self._catalogue.forget(entry):
            self._store.delete(entry.id, category=entry.category)
            if expired:
                self._recorder.expired(entry.category)

    def drop_corrupt(self, entry: Entry, detail: str) -> None:
        """Drop an entry whose document failed its checksum (loudly: the disk lied)."""
        log.error("semcache.document_corrupt", entry_id=entry.id, category=entry.category,
                  detail=detail[:200])
        self._recorder.fault("document_corrupt")
        self.drop(entry)

    def sweep(self, limit: int | None = None) -> int:
        """Remove expired entries (all, or at most ``limit``); returns how many."""
        gone = self._catalogue.pop_expired(self._clock(), limit)
        for entry in gone:
            self._store.delete(entry.id, category=entry.category)
            self._recorder.expired(entry.category)
        return len(gone)

    def flush(self, category: str | None = None) -> int:
        """Delete every entry (of one category); returns how many."""
        victims = self._catalogue.clear(category)
        for entry in victims:
            self._store.delete(entry.id, category=entry.category)
        return len(victims)

    def delete(self, entry_ids: list[str]) -> int:
        """Delete the named entries (held here or only in the store, e.g. written by another
        replica); returns how many existed."""
        found = 0
        for entry_id in entry_ids:
            entry = self._catalogue.get(entry_id)
            existed = entry is not None or self._store.get(entry_id) is not None
            if entry is not None:
                self._catalogue.forget(entry)
            if existed:
                self._store.delete(entry_id)
                found += 1
        return found
