"""Shared fixtures: one real embedding model per test session, a controllable clock."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


from litellm_semcache.engine import SemanticCache  # noqa: E402
from litellm_semcache.config import BUILTIN_DEFAULTS, CacheSettings, EmbeddingSettings, load_settings  # noqa: E402
from litellm_semcache.embedding import MemoEmbedder, load_embedder  # noqa: E402
from litellm_semcache.testing import FakeClock  # noqa: E402
from helpers import install_shipped_policy  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_logging_config():
    """``install()`` configures structlog for the process (a quiet policy: warnings only);
    each test starts from structlog's defaults so that log assertions see every event."""
    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def embedder() -> MemoEmbedder:
    return load_embedder(EmbeddingSettings())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_cache(tmp_path: Path, embedder: MemoEmbedder, clock: FakeClock
               ) -> Callable[..., SemanticCache]:
    """Build a cache on the shipped policy, with per-test overrides and its own store."""
    opened: list[SemanticCache] = []

    def build(store_dir: Path | None = None, index_factory: Any = None,
              **overrides: Any) -> SemanticCache:
        data = load_settings(BUILTIN_DEFAULTS).model_dump(mode="json")
        for key, value in overrides.items():
            if key == "categories":
                for name, policy in value.items():
                    data["categories"][name] = {**data["categories"].get(name, {}), **policy}
            elif key != "store":
                data[key] = value
        data["store"] = {"path": str(store_dir or tmp_path / "store"), **overrides.get("store", {})}
        extra = {"index_factory": index_factory} if index_factory else {}
        cache = SemanticCache(CacheSettings(**data), embedder=embedder, clock=clock, **extra)
        opened.append(cache)
        return cache

    yield build
    for cache in opened:
        cache.close()


@pytest.fixture
def installed(tmp_path: Path, embedder: MemoEmbedder):
    """``litellm_semcache.install()`` with the shipped policy, a private store and the session's
    embedding model; LiteLLM's previous cache is restored afterwards."""
    yield from install_shipped_policy(embedder, path=str(tmp_path / "installed-store"))


@pytest.fixture
def redis_server(tmp_path: Path):
    """A private redis-server (killed at the end). Missing redis-server: skipped, but a failure
    under CI=true, where scripts/bootstrap-redis must have installed it."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing although CI=true: run scripts/bootstrap-redis")
        pytest.skip("redis-server is not installed (scripts/bootstrap-redis installs it)")
    from harness import RedisServer

    with RedisServer(tmp_path / "redis") as server:
        yield server
