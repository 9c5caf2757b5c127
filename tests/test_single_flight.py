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
from helpers import GatedEmbedder

from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings
from litellm_semcache.engine import SemanticCache
from litellm_semcache.integrations import litellm_backend
from litellm_semcache.embedding import MemoEmbedder
from litellm_semcache.testing import MemoryStore, Misbehaviour, StandInModel

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
def attached(make_cache):
    """``attached(**overrides)``: the shipped policy with a ten-minute window as LiteLLM's cache
    (the engine's clock is the ``clock`` fixture)."""
    previous = litellm.cache

    def attach(**overrides) -> SemanticCache:
        engine = make_cache(single_flight_wait_ms=WINDOW_MS, log_level="warning", **overrides)
        litellm_backend.attach(engine)
        return engine

    yield attach
    litellm.cache = previous


def ask(prompt: str, answer, **kwargs):
    return litellm.acompletion(model="gpt-3.5-turbo", mock_response=answer,
                               messages=[{"role": "user", "content": prompt}], **kwargs)


def content(response) -> str:
    return response.choices[0].message.content


def run(scenario) -> object:
    return asyncio.run(asyncio.wait_for(scenario(), 60))


def test_identical_requests_get_the_answer_while_the_leaders_write_is_still_held(embedder):
    settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
    settings.log_level, settings.single_flight_wait_ms = "warning", WINDOW_MS
    store = GatedStore()
    engine = SemanticCache(settings, embedder=embedder, store=store)
    previous, prompt = litellm.cache, "Tell me a fun fact about octopuses"
    litellm_backend.attach(engine)

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
        litellm.cache = previous
        engine.close()
    assert write_still_held and store.writing.is_set()
    assert model.calls == 1  # one leader; seven waited for its answer, none for its write
    assert [content(a) for a in answers] == [f"answer to: {prompt}"] * 8
    assert sum(bool(a._hidden_params.get("cache_hit")) for a in answers) == 7


def asked_again_after(engine: SemanticCache, prompt: str, meanwhile, **first_options):
    """Ask, wait for the answer to be stored, run ``meanwhile``, ask the same again."""
    async def scenario():
        written: list = []  # LiteLLM writes in a background task that inherits this context
        token = litellm_backend.stored_here.set(written)
        try:
            await ask(prompt, "first answer", **first_options)
        finally:
            litellm_backend.stored_here.reset(token)
        while not written:  # the write is done and single-flight has heard of it
            await asyncio.sleep(0.01)
        assert len(engine) == 1
        meanwhile()
        return await ask(prompt, "asked again")

    again = run(scenario)
    return content(again), bool(again._hidden_params.get("cache_hit"))


def test_an_expired_answer_is_not_served_by_single_flight(attached, clock):
    engine = attached()
    # the entry expires; the flight's window (ten minutes) has not passed
    again = asked_again_after(engine, "how long do cats sleep?", lambda: clock.advance(2),
                              cache={"ttl": 1})
    assert again == ("asked again", False)


def test_a_flushed_answer_is_not_served_by_single_flight(attached):
    engine = attached()
    again = asked_again_after(engine, "recommend a good mystery novel",
                              litellm.cache.cache.flush_cache)
    assert again == ("asked again", False)


@pytest.mark.parametrize("answer, options", [
    pytest.param("not kept", {"cache": {"no-store": True}}, id="no-store"),
    pytest.param(Exception("upstream failed"), {}, id="upstream-failure"),
])
def test_a_leader_that_delivers_no_answer_does_not_hold_back_the_next_request(attached, answer,
                                                                             options):
    engine = attached()

    async def scenario():
        try:
            await ask("hello who are you?", answer, **options)
        except litellm.InternalServerError:
            assert isinstance(answer, Exception)
        return await ask("hello who are you?", "asked again")

    later = run(scenario)  # a leader that never hands its answer over would hang here
    assert content(later) == "asked again" and len(engine) <= 1


def test_an_overloaded_leader_still_hands_its_answer_to_identical_requests():
    """Neither the leader nor its waiter knows a category (both were refused before the
    embedding that would find one): the answer is still handed over, because every category
    of the policy serves hits."""
    settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
    settings.log_level, settings.single_flight_wait_ms = "warning", WINDOW_MS
    settings.embedding.queue_max, settings.lookup_deadline_ms = 1, 60_000
    gated = GatedEmbedder()
    engine = SemanticCache(settings, embedder=MemoEmbedder(gated, 64), store=MemoryStore())
    backend = litellm_backend.LiteLLMBackend(engine)
    request = {"model": "m", "messages": [{"role": "user", "content": "name three rivers"}]}
    answer = {"timestamp": 0, "response": "the Nile, the Amazon and the Danube"}

    async def scenario():
        gated.close_gate()

        def lookup(text):
            return asyncio.ensure_future(engine.complete_async(engine.prepare(
                {"model": "m", "messages": [{"role": "user", "content": text}]}, on_loop=True)))

        busy = [lookup("a lookup being embedded")]
        assert await asyncio.to_thread(gated.entered.wait, 30), "the embedder never started"
        busy.append(lookup("a lookup waiting for it"))  # queued behind the gate: the queue is full
        await asyncio.sleep(0)
        leader = await backend.async_get_cache("k", litellm_call_id="leader", **request)
        waiter = asyncio.ensure_future(
            backend.async_get_cache("k", litellm_call_id="waiter", **request))
        await asyncio.sleep(0.05)
        # the write embeds through the same (held) queue: it is still waiting when the answer
        # has been handed over
        write = asyncio.ensure_future(
            backend.async_set_cache("k", answer, litellm_call_id="leader", **request))
        served = await waiter
        gated.open_gate()
        await asyncio.gather(write, *busy)
        return leader, served

    try:
        leader, served = run(scenario)
    finally:
        gated.open_gate()
        engine.close()
    assert leader is None and served == answer
    assert engine.stats_snapshot()["uncategorised"]["fail_opens"] == 1  # the leader's refusal


@pytest.mark.parametrize("how, stream", [
    pytest.param(Misbehaviour.CONTENT_FILTER, False, id="content-filter"),
    pytest.param(Misbehaviour.TOOL_CALLS, False, id="tool-calls"),
    pytest.param(Misbehaviour.TRUNCATED_STREAM, True, id="truncated-stream"),
])
def test_a_broken_answer_is_never_handed_to_identical_waiting_requests(attached, how, stream):
    """Waiters get a leader's answer before its write only when no category could refuse it:
    each of them goes to the model instead (and nothing is stored)."""
    engine = attached()
    prompt = "Describe the tallest waterfall in Venezuela"

    async def one(model):
        try:
            reply = await litellm.acompletion(
                model="openai/stand-in", api_base=model.url, api_key="sk-x", stream=stream,
                messages=[{"role": "user", "content": prompt}])
            if stream:
                async for _ in reply:
                    pass
            return bool(getattr(reply, "_hidden_params", {}).get("cache_hit"))
        except Exception:  # noqa: BLE001 - a cut-off stream may end in an error: not a hit
            return False

    async def burst(model):
        return await asyncio.gather(*(one(model) for _ in range(4)))

    with StandInModel(latency_ms=200) as model, model.misbehaving(how):
        hits = run(lambda: burst(model))
        calls = model.calls
    assert hits == [False] * 4 and calls == 4
    assert len(engine) == 0
