"""The replica side of replication: what a follower of a shared store's change stream
applies to this process's catalogue (see :mod:`litellm_semcache.store.replication`)."""

from __future__ import annotations

from collections.abc import Callable

from litellm_semcache.engine.catalogue import Catalogue
from litellm_semcache.engine.rebuild import Rebuilder
from litellm_semcache.store.document import Document


class ReplicaSync:
    """Implements the follower's ``Replica`` protocol over a catalogue."""

    def __init__(self, catalogue: Catalogue, rebuilder: Rebuilder,
                 clock: Callable[[], float]) -> None:
        self._catalogue = catalogue
        self._rebuilder = rebuilder
        self._clock = clock

    def holds(self, entry_id: str, version: float) -> bool:
        """True when this replica indexes exactly that version (``expires_at``) of the entry."""
        entry = self._catalogue.get(entry_id)
        return entry is not None and entry.expires_at == version

    def adopt(self, document: Document) -> None:
        """Index a document another replica stored (or replace the version held here)."""
        if not self._rebuilder.usable(document, self._clock()):
            return
        with self._catalogue.lock:
            previous = self._catalogue.get(document.id)
            if previous is not None and previous.expires_at == document.expires_at:
                return
            self._catalogue.add(document)

    def retire(self, entry_id: str, version: float) -> bool:
        return self._catalogue.retire(entry_id, version)

    def resync(self) -> None:
        """Make the catalogue match a fresh scan of the store (after an outage or a gap)."""
        by_category, _ = self._rebuilder.scan()
        stored = {doc.id: doc for documents in by_category.values() for doc in documents}
        with self._catalogue.lock:
            for entry in self._catalogue.entries():
                document = stored.get(entry.id)
                if document is None or document.expires_at != entry.expires_at:
                    self._catalogue.forget(entry)
            for document in sorted(stored.values(), key=lambda doc: doc.created_at):
                if self._catalogue.get(document.id) is None:
                    self._catalogue.add(document)
