"""litellm-semcache: a category-aware semantic cache for LiteLLM.

    import litellm_semcache
    litellm_semcache.install()          # litellm.completion / acompletion now use the cache

Importing the package has no side effects; ``install()`` loads the policy, the embedding model
and the store, and sets ``litellm.cache``.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litellm_semcache.config import CacheSettings, CategoryPolicy, Mode, load_settings
from litellm_semcache.errors import ConfigError, InvalidRequest, SemcacheError, StoreError

if TYPE_CHECKING:
    from litellm_semcache.embedding import MemoEmbedder
    from litellm_semcache.engine import Decision, Outcome, Reason, SemanticCache

__version__ = "0.1.0"
__all__ = [
    "install", "load_settings", "SemanticCache", "Decision", "Outcome", "Reason",
    "CacheSettings", "CategoryPolicy", "Mode", "ConfigError", "InvalidRequest", "SemcacheError",
    "StoreError", "__version__",
]


def install(config: "str | os.PathLike[str] | CacheSettings | Mapping[str, Any] | None" = None,
            *, embedder: "MemoEmbedder | None" = None) -> "SemanticCache":
    """Build the cache and make it ``litellm.cache``.

    ``config``: a YAML path, a :class:`CacheSettings`, a mapping, or None for
    ``$SEMCACHE_CONFIG``, else ``./semcache.yaml``, else the built-in defaults.
    ``embedder``: an already loaded model to share (tests, several caches in one process).
    Raises :class:`ConfigError` with the offending key on an invalid policy.
    """
    from litellm_semcache.engine import SemanticCache
    from litellm_semcache.integrations import litellm_backend
    from litellm_semcache.observability.logs import configure_logging

    settings = load_settings(config)
    configure_logging(settings.log_level)
    engine = SemanticCache(settings, embedder=embedder)
    engine.load.start()  # load signals (receiver, scraper of explicit deployments) if enabled
    litellm_backend.attach(engine)
    atexit.register(engine.close)  # saves the index snapshot for a fast next start
    return engine


def __getattr__(name: str) -> Any:
    # Heavy modules (LiteLLM, torch) load only when asked for.
    if name == "proxy_handler":  # `callbacks: litellm_semcache.proxy_handler` in the proxy YAML
        from litellm_semcache.integrations import proxy

        return proxy.handler()
    if name in ("SemanticCache", "Decision", "Outcome", "Reason"):
        from litellm_semcache import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'litellm_semcache' has no attribute {name!r}")
