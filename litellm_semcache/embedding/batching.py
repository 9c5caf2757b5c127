"""Embedding as a service: concurrent lookups share one model call.

One ONNX call on eight short prompts costs about as much as two calls on one, so lookups that
arrive together should share a call. Texts go into a bounded queue; a dedicated worker thread
takes whatever is queued and, while more are arriving, waits up to ``max_wait_ms`` for a fuller
batch. A lone text is embedded at once: a quiet proxy pays no batching delay.

Long texts do not gain from batching (the work grows with tokens, and beyond about a thousand
padded tokens per call it grows faster than that), and they would hold short ones back. So a
batch is sorted by length and cut into calls of at most 256 padded tokens; the shortest are
answered first.

Lookups (:meth:`BatchingEmbedder.submit`) go first; texts whose caller can wait (the write of
an answer after a refused lookup, :meth:`BatchingEmbedder.embed`) fill what room a call has
left, or run when no lookup waits. The lookup queue is the admission control. It refuses a text
at once (:class:`QueueFull`) when it holds ``max_queue`` texts, or when the tokens ahead of it
would take longer than the caller's budget at the measured rate: under overload a lookup
becomes a counted miss instead of waiting past its deadline. A text that is accepted is always embedded; whoever stops waiting for it,
the result still reaches the callbacks of its future (the memo, for the write that follows).
Identical texts waiting together share one slot and one future.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

from litellm_semcache.errors import SemcacheError

_RATE_SMOOTHING = 0.2  # weight of the newest call in the seconds-per-token estimate
_CHARS_PER_TOKEN = 4  # English text; only an estimate for batching and admission
_MAX_TOKENS_PER_TEXT = 256  # the model's truncation (all-MiniLM-L6-v2)
_CALL_TOKENS = 32  # what one model call costs beyond its tokens, in tokens (measured ~3 ms)
_MAX_CALL_TOKENS = _MAX_TOKENS_PER_TEXT  # padded tokens per model call (one longest text)


class QueueFull(SemcacheError):
    """The embedding queue cannot take this text within the caller's budget."""


class BatchingEmbedder:
    """Micro-batches single texts for ``embed`` (a batch function: texts in, rows out).

    ``dim`` and ``name`` describe the vectors (the :class:`~.base.Embedder` protocol). The
    worker thread starts with the first text and stops with :meth:`close`.
    """

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray], dim: int, name: str, *,
                 max_batch: int = 16, max_wait_ms: float = 1.0, max_queue: int = 256) -> None:
        self.dim = dim
        self.name = name
        self._embed = embed
        self._max_batch = max(1, max_batch)
        self._max_wait = max(0.0, max_wait_ms / 1000)
        self._max_queue = max(1, max_queue)
        self._queue: OrderedDict[str, Future[np.ndarray]] = OrderedDict()  # lookups
        self._later: OrderedDict[str, Future[np.ndarray]] = OrderedDict()  # whoever can wait
        self._pending: dict[str, Future[np.ndarray]] = {}  # queued or being embedded
        self._ready = threading.Condition()
        self._worker: threading.Thread | None = None
        self._busy = 0
        self._queued_tokens = 0
        self._running_tokens = 0
        self._closed = False
        self.seconds_per_token = 0.0  # measured (a call costs tokens + _CALL_TOKENS); 0 at first
        self.calls = 0
        self.texts = 0

    # ------------------------------------------------------------------ callers

    def submit(self, text: str, budget_s: float | None = None) -> Future[np.ndarray]:
        """Queue ``text``; the future holds its row. Raises :class:`QueueFull` at once when
        the queue is full or would not reach it within ``budget_s`` seconds."""
        with self._ready:
            pending = self._pending.get(text)
            if pending is not None:
                if text in self._later:  # a write waits for the same text: it goes first now
                    self._queue[text] = self._later.pop(text)
                    self._queued_tokens += _tokens(text)
                return pending
            waiting = len(self._queue)
            cost = self._queued_tokens + self._running_tokens + _tokens(text) + _CALL_TOKENS
            if waiting >= self._max_queue or (
                    budget_s is not None
                    and cost * self.seconds_per_token > budget_s):
                raise QueueFull(f"embedding queue full ({waiting} texts waiting)")
            return self._enqueue(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The Embedder protocol, blocking and never refused (writes, warm-ups). A batch is
        already a batch: it is embedded directly."""
        with self._ready:
            direct = len(texts) != 1 or self._closed
            future = None if direct else (self._pending.get(texts[0])
                                          or self._enqueue(texts[0], later=True))
        if future is None:
            return self._embed(texts)
        return future.result()[None, :]

    def idle(self) -> bool:
        """Nothing queued and no batch running: spare capacity for speculative work."""
        return not self._queue and not self._later and not self._busy

    def close(self) -> None:
        """Stop the workers once the queue is empty (queued texts are still embedded)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    # ------------------------------------------------------------------ workers

    def _enqueue(self, text: str, later: bool = False) -> Future[np.ndarray]:
        if self._closed:
            raise QueueFull("the embedding service is closed")
        future: Future[np.ndarray] = Future()
        self._pending[text] = future
        if later:
            self._later[text] = future
        else:
            self._queue[text] = future
            self._queued_tokens += _tokens(text)
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="semcache-embed", daemon=True)
            self._worker.start()
        self._ready.notify()
        return future

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self) -> list[tuple[str, Future[np.ndarray]]] | None:
        with self._ready:
            while not self._queue and not self._later:
                if self._closed:
                    return None
                self._ready.wait()
            batch = self._take(self._max_batch)
            if 1 < len(batch) < self._max_batch and self._max_wait:
                # Others are arriving: a little patience fills the batch (one call for all).
                until = time.monotonic() + self._max_wait
                while len(batch) < self._max_batch:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    if not self._queue and not self._later:
                        self._ready.wait(left)
                    batch += self._take(self._max_batch - len(batch))
            self._busy += 1
            self._running_tokens += sum(_tokens(text) for text, _ in batch)
            return batch

    def _take(self, count: int) -> list[tuple[str, Future[np.ndarray]]]:
        taken = []
        while self._queue and len(taken) < count:
            text, future = self._queue.popitem(last=False)
            self._queued_tokens -= _tokens(text)
            taken.append((text, future))
        while self._later and len(taken) < count:
            taken.append(self._later.popitem(last=False))
        return taken

    def _run(self, batch: list[tuple[str, Future[np.ndarray]]]) -> None:
        try:
            for call in _calls(sorted(batch, key=lambda item: _tokens(item[0]))):
                self._call(call)
        finally:
            with self._ready:
                self._busy -= 1

    def _call(self, call: list[tuple[str, Future[np.ndarray]]]) -> None:
        started = time.perf_counter()
        try:
            vectors = self._embed([text for text, _ in call])
        except Exception as exc:  # noqa: BLE001 - every waiter learns of the failure
            for _, future in call:
                future.set_exception(exc)
            self._done(call)
            return
        padded = len(call) * max(_tokens(text) for text, _ in call) + _CALL_TOKENS
        rate = (time.perf_counter() - started) / padded
        self.seconds_per_token = rate if not self.calls else (
            (1 - _RATE_SMOOTHING) * self.seconds_per_token + _RATE_SMOOTHING * rate)
        self.calls += 1
        self.texts += len(call)
        for (_, future), vector in zip(call, vectors):
            vector.setflags(write=False)
            future.set_result(vector)  # its callbacks (the memo) run before it stops pending
        self._done(call)

    def _done(self, call: list[tuple[str, Future[np.ndarray]]]) -> None:
        with self._ready:
            self._running_tokens -= sum(_tokens(text) for text, _ in call)
            for text, future in call:
                if self._pending.get(text) is future:
                    del self._pending[text]


def _tokens(text: str) -> int:
    """Estimated tokens of ``text`` after the model's truncation (cheap: no tokenizer)."""
    return min(_MAX_TOKENS_PER_TEXT, 2 + len(text) // _CHARS_PER_TOKEN)


def _calls(batch: list[tuple[str, Future[np.ndarray]]]
           ) -> list[list[tuple[str, Future[np.ndarray]]]]:
    """Cut a batch sorted by length into calls of at most ``_MAX_CALL_TOKENS`` padded tokens."""
    calls: list[list[tuple[str, Future[np.ndarray]]]] = []
    for item in batch:
        current = calls[-1] if calls else None
        if current is None or (len(current) + 1) * _tokens(item[0]) > _MAX_CALL_TOKENS:
            calls.append([item])
        else:
            current.append(item)
    return calls
