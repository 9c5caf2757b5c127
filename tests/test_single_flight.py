"""Single-flight through LiteLLM's async path: identical requests share one upstream call, but
never take what should not be served, and never wait for a leader that will not answer.

The window is ten minutes here, so a request held back by a leader that will not answer would
hang the test (each scenario is bounded by ``asyncio.wait_for``); no test measures a latency.
"""

from __future__ import annotations

import asyncio
import threading

import litellm
import pytest

from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings
from litellm_semcache.embedding import MemoEmbedder
from litellm_semcache.engine import SemanticCache
from litellm_semcache.integrations import litellm_backend
from litellm_semcache.testing import FakeClock, MemoryStore, StandInModel

WINDOW_MS = 600_000  # far longer than any scenario may take


class GatedStore(MemoryStore):
    """A document store whose writes wait at a gate (a slow disk, a slow Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.writing = threading.Event()

    def put(self, document, encoded=None) -> None:
        self.writing.set()
        assert self.gate.wait(30), "the gate was never opened"
        super().put(document, encoded)


@pytest.fixture
def attached(embedder):
    """``attached(store=None)``: an engine with the shipped policy and a ten-minute window as
    LiteLLM's cache; its clock (a FakeClock) is ``engine.test_clock``."""
    previous, engines = litellm.cache, []

    def attach(store=None) -> SemanticCache:
        settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
        settings.log_level, settings.single_flight_wait_ms = "warning", WINDOW_MS
        clock = FakeClock()
        engine = SemanticCache(settings, embedder=embedder,
                               store=store if store is not None else MemoryStore(),
                               clock=clock)
        engine.test_clock = clock
        litellm_backend.attach(engine)
        engines.append(engine)
        return engine

    yield attach
    litellm.cache = previous
    for engine in engines:
        engine.close()


def ask(prompt: str, answer, **kwargs):
    return litellm.acompletion(model="gpt-3.5-turbo", mock_response=answer,
                               messages=[{"role": "user", "content": prompt}], **kwargs)


def content(response) -> str:
    return response.choices[0].message.content


async def stored(engine: SemanticCache, count: int) -> None:
    while len(engine) < count:  # LiteLLM writes in a background task
        await asyncio.sleep(0.01)


def run(scenario) -> object:
    return asyncio.run(asyncio.wait_for(scenario(), 60))


def test_identical_requests_get_the_answer_while_the_leaders_write_is_still_held(attached):
    store = GatedStore()
    attached(store)
    prompt = "Tell me a fun fact about octopuses"

    async def burst(model):
        return await asyncio.gather(*(
            litellm.acompletion(model="openai/stand-in", api_base=model.url, api_key="sk-x",
                                messages=[{"role": "user", "content": prompt}])
            for _ in range(8)))

    try:
        with StandInModel(latency_ms=200) as model:
            answers = run(lambda: burst(model))
            write_still_held = not store.gate.is_set()
    finally:
        store.gate.set()
    assert write_still_held and store.writing.is_set()
    assert model.calls == 1  # one leader; seven waited for its answer, none for its write
    assert [content(a) for a in answers] == [f"answer to: {prompt}"] * 8
    assert sum(bool(a._hidden_params.get("cache_hit")) for a in answers) == 7


def test_an_expired_answer_is_not_served_by_single_flight(attached):
    engine = attached()

    async def scenario():
        await ask("how long do cats sleep? sf-ttl", "first answer", cache={"ttl": 1})
        await stored(engine, 1)
        engine.test_clock.advance(2)  # the entry expired; the flight's window has not
        return await ask("how long do cats sleep? sf-ttl", "after expiry")

    again = run(scenario)
    assert content(again) == "after expiry" and not again._hidden_params.get("cache_hit")


def test_a_flushed_answer_is_not_served_by_single_flight(attached):
    engine = attached()

    async def scenario():
        await ask("recommend a good mystery novel sf", "The Hound of the Baskervilles")
        await stored(engine, 1)
        litellm.cache.cache.flush_cache()
        return await ask("recommend a good mystery novel sf", "after the flush")

    after = run(scenario)
    assert content(after) == "after the flush" and not after._hidden_params.get("cache_hit")


def test_a_no_store_request_does_not_hold_back_the_next_identical_one(attached):
    engine = attached()

    async def scenario():
        await ask("hello who are you sf-ns", "not kept", cache={"no-store": True})
        return await ask("hello who are you sf-ns", "asked again")

    later = run(scenario)  # a leader that will never hand its answer over would hang here
    assert content(later) == "asked again" and len(engine) == 1


def test_a_failed_upstream_call_frees_its_place_for_the_retry(attached):
    attached()

    async def scenario():
        with pytest.raises(litellm.InternalServerError):
            await ask("hello who are you sf-err", Exception("upstream failed"))
        return await ask("hello who are you sf-err", "answer after the failure")

    retry = run(scenario)
    assert content(retry) == "answer after the failure"
