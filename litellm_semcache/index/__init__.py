"""Vector indexes (hnswlib by default) and their snapshots."""

from litellm_semcache.index.base import IndexFactory, IndexParams, VectorIndex, default_index_factory

__all__ = ["IndexFactory", "IndexParams", "VectorIndex", "default_index_factory"]
