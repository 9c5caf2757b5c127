"""What the engine needs from a document store: the source of truth for cached answers.

Stores are small and dumb on purpose (get, put, delete, scan); eviction, expiry checks and the
index live in the engine, so every backend behaves the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, Union

from litellm_semcache.store.document import Document


@dataclass(frozen=True)
class Stored:
    """A scanned document that decoded cleanly."""

    document: Document


@dataclass(frozen=True)
class Unreadable:
    """A scanned key whose value is not a document (tampered, truncated, old format)."""

    key: str


ScanItem = Union[Stored, Unreadable]


class DocumentStore(Protocol):
    """Key -> :class:`Document`. Implementations never pickle and never raise on a missing key.

    ``category`` names the document's category where the caller knows it: a store partitioned
    by category (Redis Cluster: one hash slot per category) finds the key without a search;
    the others ignore it. ``keys`` lists the ids without reading the documents (the
    background check of a start from a snapshot)."""

    def get(self, key: str, category: str | None = None) -> Document | None: ...
    def put(self, document: Document, encoded: bytes | None = None) -> None: ...
    def delete(self, key: str, category: str | None = None) -> None: ...
    def scan(self) -> Iterator[ScanItem]: ...
    def keys(self) -> Iterator[str]: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
