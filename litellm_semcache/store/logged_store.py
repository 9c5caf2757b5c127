"""The local store as the engine uses it: diskcache for the documents, plus the vector log
(:mod:`litellm_semcache.store.vector_log`) written beside it on every put and delete, so a
start reads vectors in bulk instead of decoding every document."""

from __future__ import annotations

from collections.abc import Iterator

import structlog

from litellm_semcache.store.base import DocumentStore, ScanItem
from litellm_semcache.store.document import Document
from litellm_semcache.store.vector_log import VectorLog

log = structlog.get_logger("litellm_semcache")


class LoggedStore:
    """A :class:`DocumentStore` that mirrors every write into a :class:`VectorLog`. The
    document is written first: the log may lag the store, never lead it."""

    def __init__(self, store: DocumentStore, vector_log: VectorLog) -> None:
        self.inner = store
        self.log = vector_log

    def get(self, key: str, category: str | None = None) -> Document | None:
        return self.inner.get(key)

    def put(self, document: Document, encoded: bytes | None = None) -> None:
        self.inner.put(document, encoded)
        self.log.append([document])

    def delete(self, key: str, category: str | None = None) -> None:
        self.inner.delete(key)
        self.log.append_removal(key)

    def scan(self) -> Iterator[ScanItem]:
        return self.inner.scan()

    def keys(self) -> Iterator[str]:
        return self.inner.keys()

    def clear(self) -> None:
        self.inner.clear()
        self.log.reset()

    def close(self) -> None:
        self.inner.close()
        self.log.close()

    def __len__(self) -> int:
        return len(self.inner)
