"""Helpers shared by the LiteLLM contract suite (public API only: ``litellm`` and
``litellm_semcache.install``'s engine)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import litellm

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "config.example.yaml"  # the shipped policy, as operators get it
MODEL = "gpt-3.5-turbo"
# A short single-flight window for tests that are not about single-flight (the default is 5 s).
SHORT_FLIGHT_MS = 200


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def content(response: Any) -> str:
    return response.choices[0].message.content


def was_hit(response: Any) -> bool:
    return (getattr(response, "_hidden_params", None) or {}).get("cache_hit") is True


def ask(prompt: str | list, answer: str = "fresh answer", *, model: str = MODEL, **kwargs: Any):
    """One ``litellm.completion`` whose upstream answer (on a miss) is ``answer``."""
    messages = user(prompt) if isinstance(prompt, str) else prompt
    return litellm.completion(model=model, messages=messages, mock_response=answer, **kwargs)


async def aask(prompt: str | list, answer: str = "fresh answer", *, model: str = MODEL,
               **kwargs: Any):
    messages = user(prompt) if isinstance(prompt, str) else prompt
    return await litellm.acompletion(model=model, messages=messages, mock_response=answer,
                                     **kwargs)


def stores(engine: Any) -> int:
    """Answers the engine has stored so far, over every category."""
    return sum(int(row.get("stores", 0)) for row in engine.stats_snapshot().values())


async def settle(engine: Any, at_least: int, timeout: float = 5.0) -> None:
    """LiteLLM writes the cache in a background task after an async call returns: wait for it."""
    deadline = time.monotonic() + timeout
    while stores(engine) < at_least:
        assert time.monotonic() < deadline, f"only {stores(engine)} of {at_least} answers stored"
        await asyncio.sleep(0.02)


def past_single_flight() -> None:
    """Let the short single-flight window of the test proxy pass: until issue 13, a finished
    flight's answer is served for that long without re-checking a delete or a flush."""
    time.sleep(SHORT_FLIGHT_MS / 1000 + 0.1)


async def quiet(seconds: float = 0.3) -> None:
    """Give a write that should not happen the time it would need."""
    await asyncio.sleep(seconds)


# ---------------------------------------------------------------- the real proxy (e2e)

from harness.tenants import KEY_A, KEY_B  # noqa: E402, F401 - the test proxy's two keys


@dataclass(frozen=True)
class ContractProxy:
    base_url: str
    metrics_url: str
    log: Path
    master_key: str


def proxy_chat(proxy: ContractProxy, prompt: str, key: str = KEY_A,
               headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    """POST /v1/chat/completions to the ``chat-small`` group; ``body`` adds fields (``cache``)."""
    reply = httpx.post(f"{proxy.base_url}/v1/chat/completions", timeout=30,
                       headers={"Authorization": f"Bearer {key}", **(headers or {})},
                       json={"model": "chat-small", "messages": user(prompt), **body})
    reply.raise_for_status()
    return reply


def proxy_stores(proxy: ContractProxy) -> float:
    """``semcache_stores_total`` over every category, from the proxy's own metrics endpoint."""
    text = httpx.get(proxy.metrics_url, timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("semcache_stores_total{"))


def wait_for_proxy_store(proxy: ContractProxy, before: float, timeout: float = 10.0) -> None:
    """The proxy writes the cache in a background task after answering."""
    deadline = time.monotonic() + timeout
    while proxy_stores(proxy) <= before:
        assert time.monotonic() < deadline, "the proxy never stored the answer"
        time.sleep(0.05)


def proxy_chat_and_store(proxy: ContractProxy, prompt: str, key: str = KEY_A,
                         **body: Any) -> httpx.Response:
    """A first request (a miss) and the wait until its answer is stored."""
    before = proxy_stores(proxy)
    reply = proxy_chat(proxy, prompt, key, **body)
    wait_for_proxy_store(proxy, before)
    return reply
