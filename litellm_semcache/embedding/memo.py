"""A small text -> vector LRU in front of any embedder."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from litellm_semcache.embedding.base import Embedder


class MemoEmbedder:
    """Small text -> vector LRU so that LiteLLM's get and set of one request embed once."""

    def __init__(self, inner: Embedder, size: int) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.name = inner.name
        self._size = size
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_one(self, text: str) -> np.ndarray:
        vector = self.peek(text)
        if vector is None:
            vector = self.inner.embed([text])[0]
            self.keep(text, vector)
        return vector

    def peek(self, text: str) -> np.ndarray | None:
        """The memoised vector of ``text``, or None (never computes one)."""
        with self._lock:
            vector = self._memo.get(text)
            if vector is not None:
                self._memo.move_to_end(text)
            return vector

    def keep(self, text: str, vector: np.ndarray) -> None:
        """Memoise a vector computed elsewhere (the batched embedding service)."""
        vector.setflags(write=False)
        if self._size:
            with self._lock:
                self._memo[text] = vector
                self._memo.move_to_end(text)
                while len(self._memo) > self._size:
                    self._memo.popitem(last=False)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed(texts)

    def remember(self, texts: Sequence[str]) -> None:
        """Embed ``texts`` in one batch and keep them (warm-up before a burst of lookups)."""
        vectors = self.inner.embed(texts)
        with self._lock:
            for text, vector in zip(texts, vectors):
                vector.setflags(write=False)
                self._memo[text] = vector
                self._memo.move_to_end(text)
            while len(self._memo) > self._size:
                self._memo.popitem(last=False)
