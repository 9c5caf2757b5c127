"""Document store: the source of truth for cached responses and their metadata.

Documents are JSON bytes, never pickles. diskcache pickles by default, and its stock ``Disk``
unpickles any row whose stored mode says so (CVE-2025-69872: code execution for anyone who can
write the cache directory). ``_JsonOnlyDisk`` refuses to write or read a pickled key or value,
so a tampered row is a loud error that the cache turns into a miss, not code execution.
"""

from __future__ import annotations

import base64
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

import diskcache
import numpy as np
import orjson

from litellm_semcache.errors import StoreError

if TYPE_CHECKING:
    from litellm_semcache.config import StoreSettings

DOCUMENT_VERSION = 1


@dataclass
class Document:
    """One cached answer. ``vector`` is kept so the index can be rebuilt without re-embedding."""

    id: str
    category: str
    scope: str
    prompt: str
    normalized: str
    vector: np.ndarray
    response: Any
    created_at: float
    expires_at: float
    model_group: str | None = None

    def to_bytes(self) -> bytes:
        fields = asdict(self)
        fields["vector"] = base64.b64encode(self.vector.astype("<f4").tobytes()).decode("ascii")
        fields["v"] = DOCUMENT_VERSION
        return orjson.dumps(fields)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Document":
        fields = orjson.loads(raw)
        if not isinstance(fields, dict) or fields.pop("v", None) != DOCUMENT_VERSION:
            raise StoreError("unknown document format")
        fields["vector"] = np.frombuffer(base64.b64decode(fields["vector"]), dtype="<f4").copy()
        return cls(**fields)


class DocumentStore(Protocol):
    def get(self, key: str) -> Document | None: ...
    def put(self, document: Document, expire_seconds: float, encoded: bytes | None = None
            ) -> None: ...
    def delete(self, key: str) -> None: ...
    def scan(self) -> Iterator[Document | str]: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


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
    """diskcache-backed store. Safe for several processes on one machine (SQLite + files)."""

    def __init__(self, path: str | os.PathLike[str], size_limit_mb: int = 4096) -> None:
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            os.chmod(directory, 0o700)
        except OSError:
            pass  # not ours to change (e.g. a mounted volume); the data is still never pickled
        # Eviction stays in our own code: diskcache's LRU policy turns every read into a write.
        self._cache = diskcache.Cache(
            str(directory), disk=_JsonOnlyDisk, eviction_policy="none",
            size_limit=size_limit_mb * 2**20, statistics=False,
        )

    def get(self, key: str) -> Document | None:
        raw = self._cache.get(key)
        if raw is None:
            return None
        return Document.from_bytes(raw)

    def put(self, document: Document, expire_seconds: float, encoded: bytes | None = None
            ) -> None:
        """Store ``document`` (``encoded``: its ``to_bytes()``, when the caller has it already).
        diskcache's own expiry is a backstop for entries nobody sweeps; the cache checks
        ``expires_at`` itself on every read."""
        self._cache.set(document.id, encoded or document.to_bytes(), expire=max(expire_seconds, 1.0))

    def delete(self, key: str) -> None:
        self._cache.delete(key)

    def scan(self) -> Iterator[Document | str]:
        """Every stored document; the key alone for one that cannot be decoded."""
        for key in self._cache.iterkeys():
            try:
                raw = self._cache.get(key)
                if raw is not None:
                    yield Document.from_bytes(raw)
            except (StoreError, ValueError, TypeError, KeyError):
                yield key

    def clear(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)


def open_store(settings: "StoreSettings") -> DocumentStore:
    """The document store the policy names (``store.backend``)."""
    if settings.backend == "redis":
        from litellm_semcache.redis_store import RedisStore  # the redis client is an extra

        return RedisStore(settings.redis_url, prefix=settings.redis_prefix,
                          timeout_ms=settings.redis_timeout_ms,
                          stream_max_len=settings.redis_stream_max_len)
    return DiskcacheStore(settings.path, settings.size_limit_mb)
