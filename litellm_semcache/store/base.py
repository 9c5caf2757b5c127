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
    """Key -> :class:`Document`. Implementations never pickle and never raise on a missing key."""

    def get(self, key: str) -> Document | None: ...
    def put(self, document: Document, encoded: bytes | None = None) -> None: ...
    def delete(self, key: str) -> None: ...
    def scan(self) -> Iterator[ScanItem]: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
