"""GPTCache 0.1.44 as both benchmarks run it: SQLite + hnswlib, our MiniLM embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litellm_semcache.embedding import MemoEmbedder


def gptcache(workdir: Path, embedder: MemoEmbedder, evaluation: Any, threshold: float,
             max_elements: int, ef: int | None = None) -> tuple[Any, Any]:
    """(cache, data manager) storing under ``workdir``; ``get``/``put`` take ``cache_obj``."""
    from gptcache import Cache, Config
    from gptcache.manager import CacheBase, VectorBase, get_data_manager
    from gptcache.processor.pre import get_prompt

    manager = get_data_manager(
        CacheBase("sqlite", sql_url=f"sqlite:///{workdir / 'sqlite.db'}"),
        VectorBase("hnswlib", dimension=embedder.dim, max_elements=max_elements,
                   index_path=str(workdir / "hnswlib.bin")),
        max_size=max_elements)  # its default (1,000) would evict while loading
    if ef is not None:
        manager.v._index.set_ef(ef)  # GPTCache's own default is 2 * top_k = 2
    # GPTCache hands hnswlib's NumPy ids to SQLAlchemy, which under NumPy 2 matches no row (every
    # lookup would miss): give it plain ints, as it got under NumPy 1.
    search = manager.v.search
    manager.v.search = lambda data, top_k=-1: [(float(d), int(i)) for d, i in search(data, top_k)]
    cache = Cache()
    cache.init(pre_embedding_func=get_prompt,
               embedding_func=lambda text, **_: embedder.embed_one(text),
               data_manager=manager, similarity_evaluation=evaluation,
               config=Config(similarity_threshold=threshold))
    return cache, manager
