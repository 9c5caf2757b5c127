"""The engine as seen from an event loop: LiteLLM's async path and the proxy.

The proxy serves every request on one event loop, so what runs there decides what the cache
costs under load. The split:

- **on the loop**, no thread hop: parsing, bypass decisions, the category by metadata or rules,
  exact hits (an in-memory id map and one local document read, diskcache ~12 µs), and the rest
  of a lookup once its embedding is known (a bounded index search, a local read, the guard);
- **in the batched embedding service** (:mod:`~litellm_semcache.embedding.batching`): the
  embedding, the one CPU-heavy step. Concurrent lookups share one model call; when the queue
  cannot serve a lookup within its deadline, it is answered at once as a miss (``overloaded``);
- **on small dedicated pools**: reads of a remote store (a Redis round trip of up to
  ``redis_timeout_ms`` would stall every request on the loop) and the writes.

A lookup past ``lookup_deadline_ms`` is a miss, but its work is never thrown away: the
embedding still lands in the memo, where the write of the upstream answer finds it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from litellm_semcache.breaker import OPEN, CircuitBreaker, CircuitOpen
from litellm_semcache.config import CacheSettings
from litellm_semcache.embedding.batching import BatchingEmbedder, QueueFull
from litellm_semcache.embedding.memo import MemoEmbedder
from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.engine.pipeline import LookupContext, elapsed_ms
from litellm_semcache.request import RequestView

T = TypeVar("T")
_LATE = object()  # a wait that ran past the deadline
_READ_THREADS = 4  # remote reads wait on the network, not the CPU


class AsyncPath:
    """Lookups and writes for callers on an event loop. ``complete``, ``store`` and
    ``fail_open`` are the engine's own; ``memo`` returns the engine's current embedder."""

    def __init__(self, settings: CacheSettings, complete: Callable[[LookupContext], Decision],
                 store: Callable[..., Decision], memo: Callable[[], MemoEmbedder],
                 breaker: CircuitBreaker, fail_open: Callable[[Exception], Decision],
                 remote_store: bool) -> None:
        self._settings = settings
        self._complete = complete
        self._store = store
        self._memo = memo
        self._breaker = breaker
        self._fail_open = fail_open
        self._remote = remote_store
        embedding = settings.embedding
        self.embedding = BatchingEmbedder(
            self._embed_batch, memo().dim, memo().name, max_batch=embedding.batch_max,
            max_wait_ms=embedding.batch_wait_ms, max_queue=embedding.queue_max)
        self._reads: ThreadPoolExecutor | None = None
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="semcache-write")

    async def complete(self, context: LookupContext) -> Decision:
        """The embedding part of a lookup prepared on the loop, within the deadline. Never
        raises."""
        if context.exact is not None:  # an identical prompt in a remote store: read it off-loop
            return await self._off_loop(context)
        text = context.view.embed_text
        memo = self._memo()
        vector = memo.peek(text)
        if vector is None:
            if self._breaker.state == OPEN:  # a slow embedder: a miss at once, not a queue
                return self._fail_open(CircuitOpen("embedder is unavailable (circuit open)")
                                       ).but(category=context.category,
                                             request_key=context.view.exact_key,
                                             latency_ms=elapsed_ms(context.started))
            try:
                future = self.embedding.submit(text, budget_s=self._left(context))
            except QueueFull:
                return context.decide(Outcome.MISS, Reason.OVERLOADED,
                                      latency_ms=elapsed_ms(context.started))
            future.add_done_callback(lambda done: _keep(memo, text, done))
            try:
                found = await _wait(future, self._left(context))
            except Exception as exc:  # noqa: BLE001 - fail open, always
                return self._fail_open(exc).but(request_key=context.view.exact_key,
                                                latency_ms=elapsed_ms(context.started))
            if found is _LATE:
                return self._late(context)
            vector = found
        context.vector = vector
        if self._remote:
            return await self._off_loop(context)
        return self._complete(context)

    async def store(self, request: Any, response: Any, **options: Any) -> Decision:
        """The engine's ``store`` on the write thread (never on the loop, never under a
        lookup's deadline). Never raises.

        Shielded: a caller's loop that ends first (``asyncio.run`` returning, a proxy shutting
        down) cancels the await, never the write, which stays queued on the write thread."""
        queued = self._writes.submit(lambda: self._store(request, response, **options))
        return await asyncio.shield(asyncio.wrap_future(queued))

    def prefetch(self, view: RequestView) -> bool:
        """Start embedding ``view``'s prompt while nothing else is embedded (the proxy calls
        this before routing, so the embedding overlaps LiteLLM's own work). True if started."""
        text = view.embed_text if view.prompt is not None else None
        if (text is None or view.controls.no_cache or not self.embedding.idle()
                or self._breaker.state == OPEN):
            return False
        memo = self._memo()
        if memo.peek(text) is not None:
            return False
        try:
            future = self.embedding.submit(text, budget_s=self._deadline_s())
        except QueueFull:
            return False
        future.add_done_callback(lambda done: _keep(memo, text, done))
        return True

    def close(self) -> None:
        self.embedding.close()
        self._writes.shutdown(wait=False)
        if self._reads is not None:
            self._reads.shutdown(wait=False)

    # ------------------------------------------------------------------ internals

    def _embed_batch(self, texts: Any) -> np.ndarray:
        # The breaker judges the embedder by its time per text, not by the batch it was given;
        # it keeps new lookups out of the queue (see complete), while what the queue accepted,
        # writes included, is embedded whatever its state: a write is never lost to it.
        return self._breaker.observe(lambda: self._memo().embed(texts),
                                     slow_after_s=self._deadline_s() * len(texts))

    async def _off_loop(self, context: LookupContext) -> Decision:
        if self._reads is None:
            self._reads = ThreadPoolExecutor(_READ_THREADS, thread_name_prefix="semcache-read")
        future = self._reads.submit(self._complete, context)
        found = await _wait(future, self._left(context))
        return self._late(context) if found is _LATE else found  # type: ignore[return-value]

    def _deadline_s(self) -> float:
        return self._settings.lookup_deadline_ms / 1000

    def _left(self, context: LookupContext) -> float:
        return max(0.0, self._deadline_s() - (time.perf_counter() - context.started))

    def _late(self, context: LookupContext) -> Decision:
        return context.decide(Outcome.MISS, Reason.DEADLINE,
                              latency_ms=elapsed_ms(context.started))


async def _wait(future: "Future[T]", timeout: float) -> "T | object":
    """The future's result, or ``_LATE`` after ``timeout`` seconds. The work is never
    cancelled: whoever stops waiting, it finishes and its callbacks run."""
    waiter = asyncio.wrap_future(future)
    done, _ = await asyncio.wait({waiter}, timeout=timeout)
    if not done:
        waiter.add_done_callback(_retrieve)  # a late failure is not "never retrieved"
        return _LATE
    return waiter.result()


def _retrieve(waiter: "asyncio.Future[Any]") -> None:
    if not waiter.cancelled():
        waiter.exception()


def _keep(memo: MemoEmbedder, text: str, done: "Future[np.ndarray]") -> None:
    if not done.cancelled() and done.exception() is None:
        memo.keep(text, done.result())
