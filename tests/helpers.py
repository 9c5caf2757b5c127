"""Helpers shared by the tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from litellm_semcache.engine import Outcome
from litellm_semcache.testing import FakeClock, FakeEmbedder

HIT, MISS, BYPASS, SHADOW_HIT = Outcome.HIT, Outcome.MISS, Outcome.BYPASS, Outcome.SHADOW_HIT
__all__ = ["BYPASS", "FakeClock", "HIT", "MISS", "SHADOW_HIT", "chat", "expected_for_reader",
           "exposition", "install_shipped_policy", "interleave", "wait_for"]


def chat(prompt: str, *, model: str = "gpt-test", system: str | None = None,
         history: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    """LiteLLM-style request kwargs for one user prompt."""
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend(history or [])
    messages.append({"role": "user", "content": prompt})
    return {"model": model, "messages": messages, **extra}


def interleave(others: list[Any], own: list[Any], position: int) -> list[Any]:
    """``own`` inserted into ``others`` at ``position`` (clamped), keeping both orders."""
    cut = min(position, len(others))
    return [*others[:cut], *own, *others[cut:]]


@dataclass(frozen=True)
class ReaderExpectation:
    """What a reader must get after ``writes`` of ``(tenant, identity field, prompt)`` stored
    ``{"owner": [tenant, field], "n": write number}``."""

    must_hit_write: int | None  # the reader's latest write of the asked prompt: served exactly
    must_miss: bool  # the reader wrote nothing: nothing may be served
    reader: tuple[str, str]

    def check(self, decision: Any) -> None:
        if self.must_hit_write is not None:
            assert decision.outcome == HIT, decision
            assert decision.response == {"owner": list(self.reader), "n": self.must_hit_write}
        elif self.must_miss:
            assert decision.outcome == MISS, decision
        elif decision.outcome == HIT:  # the reader wrote near-duplicates: only its own answers
            assert decision.response["owner"] == list(self.reader), decision


def expected_for_reader(writes: list[tuple[str, str, str]], reader: tuple[str, str],
                        asked: str) -> ReaderExpectation:
    """The definite outcomes of an isolation property: the reader's own exact write is served
    (the latest of them), a reader without writes gets a miss."""
    own = [n for n, (tenant, field, _) in enumerate(writes) if (tenant, field) == reader]
    exact = [n for n in own if writes[n][2] == asked]
    return ReaderExpectation(exact[-1] if exact else None, not own, reader)


def exposition(engine: Any) -> str:
    """What Prometheus would scrape from the cache's collector (a private registry)."""
    from prometheus_client import generate_latest

    return generate_latest(engine.recorder.registry).decode()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, every: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def install_shipped_policy(embedder: Any, **store: Any):
    """Generator for fixtures: install the shipped policy with ``store`` settings, yield the
    engine, then restore LiteLLM's previous cache and close the engine."""
    import litellm

    import litellm_semcache
    from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings

    settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
    for key, value in store.items():
        setattr(settings.store, key, value)
    previous = litellm.cache
    engine = litellm_semcache.install(settings, embedder=embedder)
    yield engine
    litellm.cache = previous
    engine.close()


class GatedEmbedder:
    """FakeEmbedder whose calls wait at a gate once ``close_gate()`` was called; records every
    call's texts."""

    def __init__(self) -> None:
        self.inner = FakeEmbedder()
        self.dim, self.name = self.inner.dim, self.inner.name
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self._gate = threading.Event()
        self._gate.set()

    def close_gate(self) -> None:
        self._gate.clear()
        self.entered.clear()

    def open_gate(self) -> None:
        self._gate.set()

    def embed(self, texts) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        assert self._gate.wait(30), "the gate was never opened"
        return self.inner.embed(texts)
