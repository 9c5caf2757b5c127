"""Under load: batched embeddings, admission, work that outlives its deadline, and inputs that
could pin the event loop. Behavioural: tests hold the embedder at a gate and look at what
happened meanwhile; none measures a latency."""

from __future__ import annotations

import asyncio
import threading

import pytest
from helpers import BYPASS, MISS, GatedEmbedder, chat, wait_for

from litellm_semcache import request as request_module
from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings
from litellm_semcache.embedding import MemoEmbedder
from litellm_semcache.embedding.batching import BatchingEmbedder, QueueFull
from litellm_semcache.engine import Reason, SemanticCache
from litellm_semcache.testing import MemoryStore


def _engine(embedder: GatedEmbedder, store=None, **overrides) -> SemanticCache:
    settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
    settings.log_level = "warning"
    for key, value in overrides.items():
        target, name = (settings.embedding, key[len("embedding_"):]) if key.startswith(
            "embedding_") else (settings, key)
        setattr(target, name, value)
    return SemanticCache(settings, embedder=MemoEmbedder(embedder, 64),
                         store=store if store is not None else MemoryStore())


async def _lookup(engine: SemanticCache, prompt: str):
    prepared = engine.prepare(chat(prompt), on_loop=True)
    assert not hasattr(prepared, "outcome"), f"{prompt!r} decided without an embedding"
    return await engine.complete_async(prepared)


# ---------------------------------------------------------------- the batched embedding service

def _held_at_the_gate(**options):
    """(embedder, service, future): a batching service whose model call for "running" hangs
    at the embedder's gate."""
    embedder = GatedEmbedder()
    service = BatchingEmbedder(embedder.embed, embedder.dim, embedder.name, **options)
    embedder.close_gate()
    running = service.submit("running")
    assert embedder.entered.wait(5)
    return embedder, service, running


def test_texts_that_arrive_together_share_one_model_call():
    embedder = GatedEmbedder()
    service = BatchingEmbedder(embedder.embed, embedder.dim, embedder.name)
    embedder.close_gate()
    first = service.submit("the first prompt")
    assert embedder.entered.wait(5)  # the worker is inside the model call
    later = [service.submit(f"prompt number {n}") for n in range(5)]
    again = service.submit("prompt number 3")  # identical text: the same slot, the same future
    embedder.open_gate()

    rows = [future.result(10) for future in [first, *later]]
    assert again is later[3]
    assert embedder.calls[0] == ["the first prompt"]
    assert sorted(embedder.calls[1]) == sorted(f"prompt number {n}" for n in range(5))
    assert len(embedder.calls) == 2
    assert all(row.shape == (embedder.dim,) for row in rows)
    service.close()


def test_a_full_queue_refuses_at_once_and_finishes_what_it_accepted():
    embedder, service, running = _held_at_the_gate(max_queue=2)
    queued = [service.submit("queued one"), service.submit("queued two")]
    with pytest.raises(QueueFull):
        service.submit("one too many")  # refused while the model call still hangs
    embedder.open_gate()

    for future in [running, *queued]:
        assert future.result(10).shape == (embedder.dim,)
    assert "one too many" not in {text for call in embedder.calls for text in call}
    service.close()


# ---------------------------------------------------------------- admission in the engine

def test_an_overloaded_lookup_is_a_miss_at_once_counted_as_a_fail_open():
    embedder = GatedEmbedder()
    engine = _engine(embedder, embedding_queue_max=1, lookup_deadline_ms=60_000)

    async def scenario():
        embedder.close_gate()
        running = asyncio.ensure_future(_lookup(engine, "what is a good name for a cat"))
        await asyncio.to_thread(embedder.entered.wait, 5)
        queued = asyncio.ensure_future(_lookup(engine, "how tall is the eiffel tower"))
        await asyncio.sleep(0)
        refused = await _lookup(engine, "recommend me a science fiction book")
        still_held = not embedder._gate.is_set()
        embedder.open_gate()
        return refused, still_held, await running, await queued

    refused, still_held, running, queued = asyncio.run(scenario())
    engine.record(refused)
    assert still_held  # answered while the model call it would have queued behind was held
    assert refused.outcome == MISS and refused.reason is Reason.OVERLOADED
    assert running.reason is Reason.NO_CANDIDATE and queued.reason is Reason.NO_CANDIDATE
    assert sum(row["fail_opens"] for row in engine.stats_snapshot().values()) == 1
    engine.close()


def test_a_lookup_past_its_deadline_is_a_miss_and_its_embedding_serves_the_write():
    embedder = GatedEmbedder()
    engine = _engine(embedder, lookup_deadline_ms=50)
    request = chat("explain the offside rule in football")

    async def scenario():
        embedder.close_gate()
        late = await _lookup(engine, "explain the offside rule in football")
        embedder.open_gate()
        return late

    late = asyncio.run(scenario())
    assert late.outcome == MISS and late.reason is Reason.DEADLINE
    # the embedding went on after the deadline and landed in the memo ...
    assert wait_for(lambda: engine.embedder.peek("explain the offside rule in football") is not None)
    calls = len(embedder.calls)
    stored = engine.store(request, {"answer": "it is complicated"})
    # ... so the write of the upstream answer embeds nothing again
    assert stored.outcome == "stored" and len(embedder.calls) == calls
    engine.close()


# ---------------------------------------------------------------- a hostile prompt

def test_a_3_mb_prompt_of_u_fdfa_is_never_normalised(make_cache, monkeypatch):
    normalised: list[int] = []
    real = request_module.normalize
    monkeypatch.setattr(request_module, "normalize",
                        lambda text: (normalised.append(len(text)), real(text))[1])
    cache = make_cache()
    hostile = chat("\ufdfa" * 1_000_000)  # 3 MB of UTF-8; NFKC makes it 18 million characters

    async def on_the_loop():
        return cache.prepare(hostile, on_loop=True)

    decision = cache.lookup(hostile)
    prepared = asyncio.run(on_the_loop())
    cache.validate(hostile)
    stored = cache.store(hostile, {"answer": "x"})

    assert decision.outcome == BYPASS and decision.reason is Reason.PROMPT_TOO_LONG
    assert prepared.outcome == BYPASS and prepared.reason is Reason.PROMPT_TOO_LONG
    assert stored.outcome == BYPASS and len(cache) == 0
    assert all(size <= cache.settings.max_prompt_chars for size in normalised)


# ---------------------------------------------------------------- speculative embedding (proxy)

def test_the_prompt_is_embedded_ahead_only_while_the_service_is_idle():
    embedder = GatedEmbedder()
    engine = _engine(embedder)
    first, second = chat("how do volcanoes form"), chat("why is the sky blue")

    embedder.close_gate()
    assert engine.prefetch(engine.validate(first))  # idle: started
    assert embedder.entered.wait(5)
    assert not engine.prefetch(engine.validate(second))  # busy: lookups come first
    embedder.open_gate()
    assert wait_for(lambda: engine.embedder.peek("how do volcanoes form") is not None)

    calls = len(embedder.calls)
    decision = asyncio.run(_lookup(engine, "how do volcanoes form"))
    assert decision.outcome == MISS and len(embedder.calls) == calls  # found it memoised
    engine.close()


def test_lookups_are_embedded_before_texts_whose_callers_can_wait():
    embedder, service, running = _held_at_the_gate(max_batch=2)
    writes = [threading.Thread(target=service.embed, args=([f"a write {n}"],)) for n in range(2)]
    for write in writes:
        write.start()
    assert wait_for(lambda: len(service._later) == 2)
    lookup = service.submit("a lookup")
    embedder.open_gate()
    lookup.result(10)
    for write in writes:
        write.join(10)
    running.result(10)

    assert embedder.calls[1][0] == "a lookup"  # first in the next call, although it came last
    assert {text for call in embedder.calls[1:] for text in call} == {
        "a lookup", "a write 0", "a write 1"}
    service.close()


class _SlowEmbedder(GatedEmbedder):
    """Every call takes longer than the lookup deadline: the embedder breaker opens."""

    def embed(self, texts):
        threading.Event().wait(0.06)
        return super().embed(texts)


def test_writes_are_embedded_and_stored_while_the_embedder_breaker_is_open():
    engine = _engine(_SlowEmbedder(), lookup_deadline_ms=20)
    prompts = [f"tell me about the river number {n}" for n in range(8)]

    async def write_all():
        return await asyncio.gather(*(engine.store_async(chat(prompt), {"answer": prompt})
                                      for prompt in prompts))

    try:
        stored = asyncio.run(asyncio.wait_for(write_all(), 60))
        assert engine._embedding_breaker.opened >= 1  # slow calls opened it meanwhile
        assert [decision.reason for decision in stored] == [Reason.STORED] * len(prompts)
        assert len(engine) == len(prompts)
    finally:
        engine.close()
