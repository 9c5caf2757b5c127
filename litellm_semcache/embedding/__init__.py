"""Text embeddings, offline: the bundled all-MiniLM-L6-v2 by default.

Two backends give the same vectors (cosine ~0.99 between them):
- ``onnx`` (:mod:`.onnx`): int8 ONNX export run with onnxruntime, no torch at run time;
- ``torch`` (:mod:`.torch_backend`): sentence-transformers as shipped.
``auto`` uses ONNX when onnxruntime is installed and the model is a mean-pooled BERT-style
sentence-transformers model, else torch. Either is wrapped in a :class:`MemoEmbedder`.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from litellm_semcache.config import EmbeddingSettings
from litellm_semcache.embedding.base import Embedder, bundled_model_path
from litellm_semcache.embedding.memo import MemoEmbedder

log = structlog.get_logger("litellm_semcache.embedding")

__all__ = ["Embedder", "MemoEmbedder", "bundled_model_path", "load_embedder"]


def load_embedder(settings: EmbeddingSettings) -> MemoEmbedder:
    # A hub name without this hangs for over a minute before failing on an offline box.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = Path(settings.model) if settings.model else bundled_model_path()
    embedder: Embedder
    if settings.backend in ("auto", "onnx"):
        try:
            from litellm_semcache.embedding.onnx import OnnxEmbedder

            embedder = OnnxEmbedder.from_model_dir(source, cache_dir=settings.cache_dir,
                                                   threads=settings.threads)
        except Exception as exc:  # noqa: BLE001 - any failure means "use torch instead"
            if settings.backend == "onnx":
                raise
            log.info("embedding.onnx_unavailable", reason=str(exc)[:200], fallback="torch")
            embedder = _torch(source)
    else:
        embedder = _torch(source)
    log.info("embedding.loaded", backend=type(embedder).__name__, model=embedder.name)
    return MemoEmbedder(embedder, settings.memo_size)


def _torch(source: Path) -> Embedder:
    from litellm_semcache.embedding.torch_backend import TorchEmbedder

    return TorchEmbedder(str(source))
