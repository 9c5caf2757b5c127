"""In-process stand-ins for a user's own tests: a clock to move by hand, a store in a dict and
an embedder with no model."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from litellm_semcache.errors import StoreError
from litellm_semcache.store.base import ScanItem, Stored, Unreadable
from litellm_semcache.store.document import Document


class FakeClock:
    """``SemanticCache(..., clock=FakeClock())``, then ``clock.advance(seconds)``."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore:
    """A :class:`~litellm_semcache.store.DocumentStore` in a dict (documents are encoded and
    decoded as the real stores do, so a test sees the same round trip)."""

    def __init__(self) -> None:
        self._rows: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str, category: str | None = None) -> Document | None:
        raw = self._rows.get(key)
        return None if raw is None else Document.from_bytes(raw)

    def put(self, document: Document, encoded: bytes | None = None) -> None:
        with self._lock:
            self._rows[document.id] = encoded or document.to_bytes()

    def delete(self, key: str, category: str | None = None) -> None:
        with self._lock:
            self._rows.pop(key, None)

    def scan(self) -> Iterator[ScanItem]:
        with self._lock:
            rows = list(self._rows.items())
        for key, raw in rows:
            try:
                yield Stored(Document.from_bytes(raw))
            except StoreError:
                yield Unreadable(key)

    def keys(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._rows))

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self._rows)


class FakeEmbedder:
    """Hashed bag of words: deterministic, instant, and prompts sharing most words are close.
    Wrap it as the engine expects: ``MemoEmbedder(FakeEmbedder(), 0)``."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"fake-bag-of-words-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in zip(rows, texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                row[int.from_bytes(digest, "little") % self.dim] += 1.0
            row[-1] += 1e-3  # never a zero vector
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
