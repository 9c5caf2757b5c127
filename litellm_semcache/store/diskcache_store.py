"""The embedded default store: diskcache (SQLite + files) in one directory.

Documents are JSON bytes, never pickles. diskcache pickles by default, and its stock ``Disk``
unpickles any row whose stored mode says so (CVE-2025-69872: code execution for anyone who can
write the cache directory). ``_JsonOnlyDisk`` refuses to write or read a pickled key or value,
so a tampered row is a loud error that the cache turns into a miss, not code execution.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import diskcache

from litellm_semcache.errors import StoreError
from litellm_semcache.store.base import ScanItem, Stored, Unreadable
from litellm_semcache.store.document import Document


class _JsonOnlyDisk(diskcache.Disk):
    """A diskcache Disk that only ever stores and loads raw str/bytes."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if not isinstance(key, str):
            raise StoreError(f"store keys must be str, got {type(key).__name__}")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise StoreError("refusing to unpickle a store key (tampered cache directory?)")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        if not isinstance(value, bytes):
            raise StoreError(f"store values must be bytes, got {type(value).__name__}")
        return super().store(value, read, key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_PICKLE:
            raise StoreError("refusing to unpickle a stored value (tampered cache directory?)")
        return super().fetch(mode, filename, value, read)


class DiskcacheStore:
    """diskcache-backed store. Safe for several processes on one machine."""

    def __init__(self, path: str | os.PathLike[str], size_limit_mb: int = 4096) -> None:
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            os.chmod(directory, 0o700)
        except OSError:
            pass  # not ours to change (e.g. a mounted volume); the data is still never pickled
        self.path = directory
        # Eviction stays in our own code: diskcache's LRU policy turns every read into a write.
        self._cache = diskcache.Cache(
            str(directory), disk=_JsonOnlyDisk, eviction_policy="none",
            size_limit=size_limit_mb * 2**20, statistics=False,
        )

    def get(self, key: str, category: str | None = None) -> Document | None:
        raw = self._cache.get(key)
        return None if raw is None else Document.from_bytes(raw)

    def put(self, document: Document, encoded: bytes | None = None) -> None:
        """diskcache's own expiry is a backstop for entries nobody sweeps; the engine checks
        ``expires_at`` itself on every read (and its clock may not be the wall clock)."""
        self._cache.set(document.id, encoded or document.to_bytes(),
                        expire=max(document.kept_seconds, 1.0))

    def delete(self, key: str, category: str | None = None) -> None:
        self._cache.delete(key)

    def scan(self) -> Iterator[ScanItem]:
        for key in self._cache.iterkeys():
            try:
                raw = self._cache.get(key)
                if raw is not None:
                    yield Stored(Document.from_bytes(raw))
            except StoreError:
                yield Unreadable(str(key))

    def keys(self) -> Iterator[str]:
        """Every key, without reading a value: one SQL pass over diskcache's table (its
        ``iterkeys`` pages 100 keys per query, 100 times slower at a million). The calling
        thread's SQLite connection is closed afterwards, so the pages the pass pulled in do
        not stay resident."""
        try:
            for key, raw in self._cache._sql("SELECT key, raw FROM Cache"):  # noqa: SLF001
                if raw:
                    yield str(key)
        finally:
            self._cache.close()  # this thread's connection only; it reopens on next use

    def volume(self) -> int:
        """Bytes on disk: the database's pages plus the values kept in their own files."""
        return int(self._cache.volume())

    def clear(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)
