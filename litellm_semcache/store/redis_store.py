"""Document store on stock Redis (one server, a primary with replicas, or Redis Cluster),
shared by several cache replicas; no Redis modules needed.

The key layout (:mod:`~litellm_semcache.store.redis_layout`) puts each category in one hash
slot, so every write and its events happen in one Lua script on one node: a replica never sees
a document without its event or the reverse, and Redis Cluster runs the same scripts.

Durability: Redis acknowledges a write before its replicas have it. With
``wait_replicas = N`` a write counts as stored only after ``WAIT N`` (on the same connection)
confirms N replicas hold it, so a failover that promotes one of them loses no acknowledged
entry; a write that misses the deadline is reported as not stored (the answer was still
served, only not cached).

Every call goes through a circuit breaker and a socket timeout, so a dead or slow Redis costs a
request one short timeout, then nothing until the breaker's probe finds Redis back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from litellm_semcache.breaker import CircuitBreaker
from litellm_semcache.errors import StoreError
from litellm_semcache.store import redis_layout as layout
from litellm_semcache.store.base import ScanItem, Stored, Unreadable
from litellm_semcache.store.document import Document
from litellm_semcache.store.replication import Change, Position

T = TypeVar("T")
_SCAN_BATCH = 500


def describe_url(url: str) -> str:
    """``host:port/db`` of a Redis URL, for logs: never the user name or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}{parts.path or '/0'}"


class RedisStore:
    """The shared document store, its global quotas and its change streams (one per
    category: ``stream`` arguments are category names)."""

    def __init__(self, url: str, *, prefix: str = "semcache:", timeout_ms: float = 250.0,
                 stream_max_len: int = 100_000, breaker: CircuitBreaker | None = None,
                 cluster: bool = False, wait_replicas: int = 0,
                 categories: Iterable[str] = ()) -> None:
        timeout = timeout_ms / 1000
        options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        self.cluster = cluster
        # No client-side retries: a failed call fails at once and the breaker decides (the
        # cluster client's default retries with backoff held a lookup 0.6 s in a failover).
        self._redis: Any = (RedisCluster.from_url(url, retry=Retry(NoBackoff(), 0), **options)
                            if cluster else redis.Redis.from_url(url, retry=None, **options))
        self.address = describe_url(url)
        self._prefix = prefix
        self._max_len = stream_max_len
        self._wait = wait_replicas
        self._wait_ms = max(1, int(timeout_ms / 2))
        self._categories = list(categories)
        self._put = self._redis.register_script(layout.PUT)
        self._delete = self._redis.register_script(layout.DELETE)
        self.breaker = breaker or CircuitBreaker(f"redis {self.address}")
        self.origin = uuid.uuid4().hex  # which replica wrote an event (for diagnosis)

    def keys_of(self, category: str) -> layout.CategoryKeys:
        return layout.keys_for(self._prefix, category)

    # -------------------------------------------------------------- DocumentStore

    def get(self, key: str, category: str | None = None) -> Document | None:
        for name in self._candidates(category):
            raw = self._call(lambda name=name: self._redis.get(self.keys_of(name).doc(key)))
            if raw is not None:
                return Document.from_bytes(raw)
        return None

    def put(self, document: Document, encoded: bytes | None = None) -> None:
        self.put_within_quota(document, 0, encoded)

    def put_within_quota(self, document: Document, max_entries: int,
                         encoded: bytes | None = None) -> list[tuple[str, float]]:
        """Store ``document`` and evict beyond ``max_entries`` in its category (0: no quota),
        atomically. Returns the evicted ``(id, version)`` pairs (they may include ``document``
        itself when it expires before every other entry)."""
        keys = self.keys_of(document.category)
        version = repr(float(document.expires_at))
        now = repr(float(document.created_at))  # members expired by then leave the quota set
        script_keys = [keys.doc(document.id), *keys.keys]
        args = [document.category, self.origin, self._max_len, encoded or document.to_bytes(),
                int(document.expires_at * 1000), document.id, version, max_entries, now,
                keys.doc_prefix]
        evicted = self._call(lambda: self._write(script_keys, args))
        return [(evicted[i].decode(), float(evicted[i + 1])) for i in range(0, len(evicted), 2)]

    def delete(self, key: str, category: str | None = None) -> None:
        for name in self._candidates(category):
            keys = self.keys_of(name)
            self._call(lambda keys=keys, name=name: self._delete(
                keys=[keys.doc(key), *keys.keys], args=[name, self.origin, self._max_len, key]))

    def scan(self, category: str | None = None) -> Iterator[ScanItem]:
        """Every document (of one category), read in batches of one slot each."""
        by_category: dict[str, list[str]] = {}
        for key in self._scan_keys(layout.doc_pattern(self._prefix, category)):
            found = layout.split_doc_key(self._prefix, key)
            if found is None:
                continue
            batch = by_category.setdefault(found[0], [])
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                yield from self._decode_batch(batch)
                batch.clear()
        for batch in by_category.values():
            yield from self._decode_batch(batch)

    def keys(self) -> Iterator[str]:
        for key in self._scan_keys(layout.doc_pattern(self._prefix)):
            found = layout.split_doc_key(self._prefix, key)
            if found is not None:
                yield found[1]

    def clear(self) -> None:
        """Delete every key of this prefix (layout 2, and layout 1 left by older versions)."""
        for pattern in layout.all_patterns(self._prefix):
            for key in self._scan_keys(pattern):  # one by one: slots differ
                self._call(lambda key=key: self._redis.delete(key))

    def close(self) -> None:
        self._redis.close()

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    # -------------------------------------------------------------- change streams

    def position(self, stream: str) -> Position:
        """The newest event of ``stream`` ("0-0", 0 for none): note it before scanning the
        store, follow from it after, and nothing written in between is missed."""
        newest = self._call(lambda: self._redis.xrevrange(self.keys_of(stream).stream, count=1))
        if not newest:
            return Position()
        ident, fields = newest[0]
        return Position(ident.decode(), int(fields.get(b"n", 0)))

    def changes_after(self, stream: str, position: Position, *, block_ms: int,
                      count: int = 500) -> list[Change]:
        """Events newer than ``position``, waiting up to ``block_ms`` for the first one."""
        name = self.keys_of(stream).stream
        reply = self._call(lambda: self._redis.xread({name: position.id}, count=count,
                                                     block=block_ms))
        if not reply:
            return []
        return [_change(ident, fields) for ident, fields in _events(reply)]

    # -------------------------------------------------------------- internals

    def _write(self, keys: list[str], args: list[Any]) -> Any:
        if not self._wait:
            return self._put(keys=keys, args=args)
        client = (self._redis.get_redis_connection(self._redis.get_node_from_key(keys[0]))
                  if self.cluster else self._redis)
        pipe = client.pipeline(transaction=False)  # one connection: WAIT covers this write
        self._put(keys=keys, args=args, client=pipe)
        pipe.execute_command("WAIT", self._wait, self._wait_ms)
        try:
            evicted, replicated = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            if self.cluster:
                self._redis.nodes_manager.initialize()  # a failover moved the slot
            raise
        if int(replicated) < self._wait:
            raise StoreError(f"the write reached {replicated} of {self._wait} Redis replicas "
                             f"within {self._wait_ms} ms: not counted as stored")
        return evicted

    def _candidates(self, category: str | None) -> list[str]:
        return [category] if category else self._categories

    def _scan_keys(self, pattern: str) -> list[str]:
        found = self._call(lambda: list(self._redis.scan_iter(match=pattern, count=_SCAN_BATCH)))
        return [key.decode() if isinstance(key, bytes) else key for key in found]

    def _call(self, operation: Callable[[], T]) -> T:
        return self.breaker.call(operation)

    def _decode_batch(self, keys: list[str]) -> Iterator[ScanItem]:
        if not keys:
            return
        values = self._call(lambda: self._redis.mget(keys))  # one category: one slot
        for key, raw in zip(keys, values):
            found = layout.split_doc_key(self._prefix, key)
            if raw is None or found is None:
                continue  # expired between SCAN and MGET
            try:
                yield Stored(Document.from_bytes(raw))
            except StoreError:
                yield Unreadable(found[1])


def _events(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XREAD's reply for one stream (a list under RESP2, a dict under RESP3)."""
    if isinstance(reply, dict):
        return next(iter(reply.values()))[0]
    return reply[0][1]


def _change(ident: bytes, fields: dict[bytes, bytes]) -> Change:
    return Change(position=Position(ident.decode(), int(fields.get(b"n", 0))),
                  op=fields[b"op"].decode(), id=fields[b"id"].decode(),
                  version=float(fields[b"ver"]), category=fields[b"cat"].decode(),
                  origin=fields[b"origin"].decode())
