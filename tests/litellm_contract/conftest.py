"""Fixtures of the LiteLLM contract suite: one embedding model per session, a freshly installed
cache (its own store) per test, and one real LiteLLM proxy per session for the e2e files.

Only the public API is used: ``litellm_semcache.install(config, embedder=...)``, the engine it
returns, ``litellm_semcache.load_settings``, ``litellm_semcache.embedding.load_embedder`` with
``litellm_semcache.config.EmbeddingSettings``, and ``litellm_semcache.testing``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import litellm
import pytest
from contract_support import POLICY, ROOT, SHORT_FLIGHT_MS, ContractProxy

import litellm_semcache
from litellm_semcache.config import EmbeddingSettings
from litellm_semcache.embedding import load_embedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

@pytest.fixture(scope="session")
def contract_embedder():
    return load_embedder(EmbeddingSettings())


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture
def install_cache(tmp_path: Path, contract_embedder, monkeypatch
                  ) -> Iterator[Callable[..., Any]]:
    """``install_cache(**overrides)``: install the shipped policy (config.example.yaml) with a
    private store and ``overrides`` merged in; returns the engine. The single-flight window is
    short unless a test asks for another (``single_flight_wait_ms=5000`` is the default policy).
    LiteLLM's previous cache comes back afterwards."""
    for name in list(os.environ):
        if name.startswith("SEMCACHE_"):
            monkeypatch.delenv(name)
    previous = litellm.cache
    engines: list[Any] = []

    def install(**overrides: Any) -> Any:
        policy = litellm_semcache.load_settings(POLICY).model_dump(mode="json")
        policy = _merge(policy, {"log_level": "warning", "single_flight_wait_ms": SHORT_FLIGHT_MS,
                                 "store": {"path": str(tmp_path / f"store-{len(engines)}")}})
        engine = litellm_semcache.install(_merge(policy, overrides), embedder=contract_embedder)
        engines.append(engine)
        return engine

    yield install
    litellm.cache = previous
    for engine in engines:
        engine.close()


@pytest.fixture
def cache(install_cache):
    """The shipped policy, short single-flight window."""
    return install_cache()


@pytest.fixture
def default_cache(install_cache):
    """The shipped policy exactly, single-flight window included (5 s)."""
    return install_cache(single_flight_wait_ms=5000)


# ---------------------------------------------------------------- the real proxy (e2e)

def _proxy_config(upstream_url: str, workdir: Path) -> dict[str, Any]:
    from harness import tenant_proxy_config

    return tenant_proxy_config(upstream_url, workdir, master_key_prefix="sk-contract")


@contextlib.contextmanager
def start_proxy(workdir: Path, upstream_url: str, **semcache_env: str) -> Iterator[ContractProxy]:
    """A ``litellm --config`` process with ``callbacks: litellm_semcache.proxy_handler``, running
    this checkout's package (PYTHONPATH), the shipped policy, a private store and its own
    metrics port."""
    from harness import free_port, litellm_proxy

    workdir.mkdir(parents=True, exist_ok=True)
    metrics_port = free_port()
    env = {"SEMCACHE_CONFIG": str(POLICY), "SEMCACHE_STORE__PATH": str(workdir / "store"),
           "SEMCACHE_METRICS_PORT": str(metrics_port), "SEMCACHE_LOG_LEVEL": "warning",
           "UPSTREAM_API_KEY": "sk-upstream-contract",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           **{f"SEMCACHE_{name.upper()}": value for name, value in semcache_env.items()}}
    config = _proxy_config(upstream_url, workdir)
    with litellm_proxy(config, workdir, env) as running:
        yield ContractProxy(running.base_url, f"http://127.0.0.1:{metrics_port}/metrics",
                            running.log, config["general_settings"]["master_key"])


@pytest.fixture(scope="session")
def upstream():
    from litellm_semcache.testing import StandInModel

    with StandInModel() as model:
        yield model


@pytest.fixture(scope="session")
def proxy(tmp_path_factory, upstream):
    """One proxy for every e2e test (each test uses its own prompts). Its single-flight window is
    short: these tests are about the proxy's routes and controls (the SDK tests cover it)."""
    with start_proxy(tmp_path_factory.mktemp("contract-proxy"), upstream.url,
                     single_flight_wait_ms=str(SHORT_FLIGHT_MS)) as running:
        yield running


@pytest.fixture(scope="module")
def hurried_proxy(tmp_path_factory, upstream):
    """A second proxy whose lookup deadline (1 µs) cuts off every async lookup."""
    with start_proxy(tmp_path_factory.mktemp("hurried-proxy"), upstream.url,
                     lookup_deadline_ms="0.001",
                     single_flight_wait_ms=str(SHORT_FLIGHT_MS)) as running:
        yield running
