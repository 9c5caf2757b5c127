"""Document store on stock Redis, shared by several cache replicas (no Redis modules needed).

Layout under ``prefix``:
- ``doc:<id>``: the JSON document (never a pickle), expiring at its absolute ``expires_at``
  (``SET ... PXAT``; reads never touch the expiry, so a hit never extends it).
- ``quota:<category>``: sorted set of the category's ids scored by ``expires_at``. It is the
  global quota: a write that takes the category over ``max_entries`` evicts the entries that
  expire soonest (for one category's TTL that is the oldest, i.e. FIFO), whichever replica wrote
  them.
- ``changes``: a Redis Stream of ``add``/``remove`` events (id, version = ``expires_at``) that
  replicas follow to keep their in-process indexes in step (see ``replication.py``).

Every write and its event happen in one Lua script, so a replica never sees a document without
its event or the reverse. Scripts touch keys they compute, so this targets a single Redis
(or a primary with replicas), not Redis Cluster.

Every call goes through a circuit breaker and a socket timeout, so a dead or slow Redis costs a
request one short timeout, then nothing until the breaker's probe finds Redis back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis

from litellm_semcache.breaker import CircuitBreaker
from litellm_semcache.errors import StoreError
from litellm_semcache.store.base import ScanItem, Stored, Unreadable
from litellm_semcache.store.document import Document
from litellm_semcache.store.replication import Change, StreamTrimmed

T = TypeVar("T")
_SCAN_BATCH = 500

# KEYS: doc, quota zset, stream. ARGV: encoded, expires_ms, id, version, max_entries (0 = none),
# category, origin, stream_max_len, now, doc key prefix, quota key prefix.
# A document rewritten under another category leaves that category's quota set first.
_PUT = """
local old = redis.call('GET', KEYS[1])
if old then
  local ok, doc = pcall(cjson.decode, old)
  if ok and type(doc) == 'table' and type(doc['category']) == 'string'
      and doc['category'] ~= ARGV[6] then
    redis.call('ZREM', ARGV[11] .. doc['category'], ARGV[3])
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'op', 'add', 'id', ARGV[3],
           'ver', ARGV[4], 'cat', ARGV[6], 'origin', ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[9])
local evicted = {}
local quota = tonumber(ARGV[5])
if quota > 0 then
  local excess = redis.call('ZCARD', KEYS[2]) - quota
  if excess > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], excess)
    for i = 1, #popped, 2 do
      redis.call('DEL', ARGV[10] .. popped[i])
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'op', 'remove', 'id', popped[i],
                 'ver', popped[i + 1], 'cat', ARGV[6], 'origin', ARGV[7], 'why', 'evicted')
      evicted[#evicted + 1] = popped[i]
      evicted[#evicted + 1] = popped[i + 1]
    end
  end
end
return evicted
"""

# KEYS: doc, stream. ARGV: id, origin, stream_max_len, quota key prefix. The category (for the
# quota set) is read from the document itself; the version from the quota set (exact digits).
_DELETE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
redis.call('DEL', KEYS[1])
local ok, doc = pcall(cjson.decode, raw)
local category = ''
local version = '+inf'
if ok and type(doc) == 'table' and type(doc['category']) == 'string' then
  category = doc['category']
  local score = redis.call('ZSCORE', ARGV[4] .. category, ARGV[1])
  if score then version = score end
  redis.call('ZREM', ARGV[4] .. category, ARGV[1])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'op', 'remove', 'id', ARGV[1],
           'ver', version, 'cat', category, 'origin', ARGV[2], 'why', 'deleted')
return 1
"""


def describe_url(url: str) -> str:
    """``host:port/db`` of a Redis URL, for logs: never the user name or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}{parts.path or '/0'}"


class RedisStore:
    """The shared document store, its global quotas and its change stream."""

    def __init__(self, url: str, *, prefix: str = "semcache:", timeout_ms: float = 250.0,
                 stream_max_len: int = 100_000, breaker: CircuitBreaker | None = None) -> None:
        timeout = timeout_ms / 1000
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout,
                                           socket_connect_timeout=timeout, retry=None)
        self.address = describe_url(url)
        self._prefix = prefix
        self._doc_prefix = f"{prefix}doc:"
        self._quota_prefix = f"{prefix}quota:"
        self._stream = f"{prefix}changes"
        self._max_len = stream_max_len
        self._put = self._redis.register_script(_PUT)
        self._delete = self._redis.register_script(_DELETE)
        self.breaker = breaker or CircuitBreaker(f"redis {self.address}")
        self.origin = uuid.uuid4().hex  # which replica wrote an event (for diagnosis)

    # -------------------------------------------------------------- DocumentStore

    def get(self, key: str) -> Document | None:
        raw = self._call(lambda: self._redis.get(self._doc_prefix + key))
        return None if raw is None else Document.from_bytes(raw)

    def put(self, document: Document, encoded: bytes | None = None) -> None:
        self.put_within_quota(document, 0, encoded)

    def put_within_quota(self, document: Document, max_entries: int,
                         encoded: bytes | None = None) -> list[tuple[str, float]]:
        """Store ``document`` and evict beyond ``max_entries`` in its category (0: no quota),
        atomically. Returns the evicted ``(id, version)`` pairs (they may include ``document``
        itself when it expires before every other entry)."""
        version = repr(float(document.expires_at))
        now = repr(float(document.created_at))  # members expired by then leave the quota set
        evicted = self._call(lambda: self._put(
            keys=[self._doc_prefix + document.id, self._quota_prefix + document.category,
                  self._stream],
            args=[encoded or document.to_bytes(), int(document.expires_at * 1000), document.id,
                  version, max_entries, document.category, self.origin, self._max_len, now,
                  self._doc_prefix, self._quota_prefix]))
        return [(evicted[i].decode(), float(evicted[i + 1])) for i in range(0, len(evicted), 2)]

    def delete(self, key: str) -> None:
        self._call(lambda: self._delete(keys=[self._doc_prefix + key, self._stream],
                                        args=[key, self.origin, self._max_len,
                                              self._quota_prefix]))

    def scan(self) -> Iterator[ScanItem]:
        batch: list[bytes] = []
        for key in self._call(lambda: list(self._redis.scan_iter(
                match=self._doc_prefix + "*", count=_SCAN_BATCH))):
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                yield from self._decode_batch(batch)
                batch = []
        yield from self._decode_batch(batch)

    def clear(self) -> None:
        keys = self._call(lambda: list(self._redis.scan_iter(match=self._prefix + "*",
                                                             count=_SCAN_BATCH)))
        for start in range(0, len(keys), _SCAN_BATCH):
            self._call(lambda start=start: self._redis.delete(*keys[start:start + _SCAN_BATCH]))

    def close(self) -> None:
        self._redis.close()

    def __len__(self) -> int:
        return sum(1 for _ in self._call(lambda: list(self._redis.scan_iter(
            match=self._doc_prefix + "*", count=_SCAN_BATCH))))

    # -------------------------------------------------------------- change stream

    def position(self) -> str:
        """The id of the newest change event ("0-0" for none): note it before scanning the store,
        follow from it after, and nothing written in between is missed."""
        newest = self._call(lambda: self._redis.xrevrange(self._stream, count=1))
        return newest[0][0].decode() if newest else "0-0"

    def changes_after(self, position: str, *, block_ms: int, count: int = 500) -> list[Change]:
        """Events newer than ``position``, waiting up to ``block_ms`` for the first one.
        Raises :class:`StoreError` when events after ``position`` were already trimmed (the
        caller must rebuild from the store)."""
        reply = self._call(lambda: self._redis.xread({self._stream: position}, count=count,
                                                     block=block_ms))
        if not reply:
            return []
        events = reply[0][1]
        if self._trimmed_after(position):
            raise StreamTrimmed("change events were trimmed before this replica read them")
        return [_change(ident, fields) for ident, fields in events]

    def _trimmed_after(self, position: str) -> bool:
        """True when events after ``position`` may have been trimmed: the stream lost entries
        (MAXLEN) and its oldest survivor is newer than ``position``. Trimming does not update
        ``max-deleted-entry-id`` in Redis 7.0, hence the counts."""
        info = self._call(lambda: self._redis.xinfo_stream(self._stream))
        if int(info.get("entries-added") or 0) <= int(info.get("length") or 0):
            return False
        first = info.get("first-entry")
        return first is not None and _stream_id(first[0]) > _stream_id(position)

    # -------------------------------------------------------------- internals

    def _call(self, operation: Callable[[], T]) -> T:
        return self.breaker.call(operation)

    def _decode_batch(self, keys: list[bytes]) -> Iterator[ScanItem]:
        if not keys:
            return
        values = self._call(lambda: self._redis.mget(keys))
        for key, raw in zip(keys, values):
            ident = key.decode()[len(self._doc_prefix):]
            if raw is None:
                continue  # expired between SCAN and MGET
            try:
                yield Stored(Document.from_bytes(raw))
            except StoreError:
                yield Unreadable(ident)


def _change(ident: bytes, fields: dict[bytes, bytes]) -> Change:
    return Change(position=ident.decode(), op=fields[b"op"].decode(), id=fields[b"id"].decode(),
                  version=float(fields[b"ver"]), category=fields[b"cat"].decode(),
                  origin=fields[b"origin"].decode())


def _stream_id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)
