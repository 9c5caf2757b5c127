"""A small linear head that puts a prompt in one of the shipped categories.

Why a head and not the centroids of a few example phrases: real prompts (long, multi-part,
pasted code, writing tasks) sit far from every short FAQ-style example, so the centroids sent
almost everything to ``default``. The head is a multinomial logistic regression over two
things the lookup has anyway: the prompt's embedding (the one the index search needs; no second
model) and a hashed bag of the prompt's words and code punctuation (braces, semicolons, ``def``,
``SELECT``), which sees the whole prompt where the embedding sees only its first 256 tokens.

The weights are ``data/category_head.npz``, produced by ``python -m bench.train_categories``
from the ``dev`` split of the labelled data only (ShareGPT first turns, the dev pairs' prompts
and the policy's examples). They are read once at start-up; a prediction is one
7 x 1,408 matrix-vector product (tens of microseconds).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEAD_FILE = Path(__file__).with_name("data") / "category_head.npz"
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[{}()\[\];=<>:#$@`'\"./\\-]")
_MAX_CHARS = 2000  # the start of a long prompt says what it is; bounds the cost


def bag_of_words(text: str, buckets: int) -> np.ndarray:
    """log(1 + count) of each lower-cased word and code punctuation mark, hashed into
    ``buckets`` with crc32 (the same buckets in every process, unlike ``hash``), L2-normalised."""
    counts = Counter(_TOKEN.findall(text[:_MAX_CHARS].lower()))
    features = np.zeros(buckets, dtype=np.float32)
    if counts:
        slots = np.fromiter((zlib.crc32(token.encode()) % buckets for token in counts),
                            dtype=np.int64, count=len(counts))
        np.add.at(features, slots, np.log1p(np.fromiter(counts.values(), dtype=np.float32,
                                                        count=len(counts))))
        features /= float(np.linalg.norm(features))
    return features


@dataclass(frozen=True)
class CategoryHead:
    names: tuple[str, ...]
    weights: np.ndarray  # (categories, dim + buckets)
    bias: np.ndarray  # (categories,), decision offsets folded in
    dim: int
    buckets: int

    @classmethod
    def load(cls, path: Path = HEAD_FILE) -> "CategoryHead":
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(name) for name in data["names"]),
                       data["weights"].astype(np.float32), data["bias"].astype(np.float32),
                       int(data["dim"]), int(data["buckets"]))

    def scores(self, vector: np.ndarray, text: str) -> np.ndarray:
        """Log-odds-like score per category (higher is likelier)."""
        features = np.concatenate([vector.astype(np.float32),
                                   bag_of_words(text, self.buckets)])
        return self.weights @ features + self.bias

    def predict(self, vector: np.ndarray, text: str) -> tuple[str, float]:
        """(category, probability) of the most likely category."""
        scores = self.scores(vector, text)
        best = int(np.argmax(scores))
        shifted = np.exp(scores - scores[best])
        return self.names[best], float(1.0 / shifted.sum())
