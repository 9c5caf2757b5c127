"""The replica side of replication: what a follower of a shared store's change streams
applies to this process's catalogue (see :mod:`litellm_semcache.store.replication`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from litellm_semcache.engine.catalogue import Catalogue
from litellm_semcache.engine.rebuild import Rebuilder
from litellm_semcache.store.base import ScanItem, Stored
from litellm_semcache.store.document import Document

_BATCH = 2_000


class CategoryScan(Protocol):
    def scan(self, category: str | None = None) -> Iterator[ScanItem]: ...


class ReplicaSync:
    """Implements the follower's ``Replica`` protocol over a catalogue."""

    def __init__(self, catalogue: Catalogue, rebuilder: Rebuilder, store: CategoryScan,
                 clock: Callable[[], float]) -> None:
        self._catalogue = catalogue
        self._rebuilder = rebuilder
        self._store = store
        self._clock = clock

    def holds(self, entry_id: str, version: float) -> bool:
        """True when this replica indexes exactly that version (``expires_at``) of the entry."""
        entry = self._catalogue.get(entry_id)
        return entry is not None and entry.expires_at == version

    def adopt(self, document: Document) -> None:
        """Index a document another replica stored (or replace an older version held here;
        a late event of an older write, e.g. in the category it was rewritten out of, never
        replaces a newer one)."""
        if not self._rebuilder.usable(document, self._clock()):
            return
        with self._catalogue.lock:
            previous = self._catalogue.get(document.id)
            if previous is not None and (previous.expires_at == document.expires_at
                                         or previous.created_at > document.created_at):
                return
            self._catalogue.add(document)

    def retire(self, entry_id: str, version: float, category: str | None = None) -> bool:
        return self._catalogue.retire(entry_id, version, category)

    def resync(self, category: str) -> None:
        """Make the category's entries match a fresh scan of the store (after an outage or a
        gap in its stream). Streamed: only the documents this replica lacks are kept, until
        they are indexed."""
        now = self._clock()
        seen: dict[str, float] = {}
        missing: list[Document] = []
        for item in self._store.scan(category):
            if not isinstance(item, Stored) or item.document.category != category:
                continue
            document = item.document
            if not self._rebuilder.usable(document, now):
                continue
            seen[document.id] = document.expires_at
            if not self.holds(document.id, document.expires_at):
                missing.append(document)
                if len(missing) >= _BATCH:
                    self._adopt_all(missing)
        with self._catalogue.lock:
            for entry in self._catalogue.entries(category):
                if seen.get(entry.id) != entry.expires_at:
                    self._catalogue.forget(entry)
        self._adopt_all(missing)

    def _adopt_all(self, documents: list[Document]) -> None:
        for document in sorted(documents, key=lambda doc: doc.created_at):
            self.adopt(document)
        documents.clear()
