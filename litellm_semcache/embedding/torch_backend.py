"""sentence-transformers on torch: any model it can load (~10-25 ms per prompt on 2 cores)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np


class TorchEmbedder:
    def __init__(self, model: str) -> None:
        # no weight-loading progress bars on a proxy's stderr
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device="cpu")
        dimension = (getattr(self._model, "get_embedding_dimension", None)  # newer name
                     or self._model.get_sentence_embedding_dimension)
        self.dim = int(dimension())
        self.name = f"torch:{Path(model).name}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
