"""Key names and Lua scripts of the Redis store (layout 2: one hash slot per category).

Every key of one category carries the same hash tag, ``{<prefix><category>}``, so a category's
documents, quota set, change stream and event counter live in one Redis Cluster slot, and each
script (a write with its evictions and its events) runs atomically on one node. On a single
Redis the tags are just part of the names. Per category, under ``prefix`` (e.g. ``semcache:``):

- ``{semcache:chat}doc:<id>``: the JSON document (never a pickle), expiring at its absolute
  ``expires_at`` (``SET ... PXAT``; reads never touch the expiry, so a hit never extends it),
  which for a category with a stale grace is its TTL plus that grace (the document says when
  it went stale: ``Document.fresh_until``);
- ``{semcache:chat}quota``: sorted set of the category's ids scored by ``expires_at``, the
  global quota: a write that takes the category over ``max_entries`` evicts the entries that
  expire soonest (for one category's TTL that is the oldest), whichever replica wrote them;
- ``{semcache:chat}changes``: the category's change stream of ``add``/``remove`` events (id,
  version = ``expires_at``, ordinal ``n``) that replicas follow (``replication.py``);
- ``{semcache:chat}n``: the counter behind ``n``, so a follower sees any gap exactly.

Layout 1 (one ``changes`` stream and ``doc:<id>`` keys without tags) is not read any more:
its documents expire on their own (see CHANGELOG).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CategoryKeys:
    doc_prefix: str
    quota: str
    stream: str
    counter: str

    def doc(self, entry_id: str) -> str:
        return self.doc_prefix + entry_id

    @property
    def keys(self) -> list[str]:
        """The keys a script is handed, after the document's own."""
        return [self.quota, self.stream, self.counter]


def keys_for(prefix: str, category: str) -> CategoryKeys:
    tag = "{" + prefix + category + "}"
    return CategoryKeys(f"{tag}doc:", f"{tag}quota", f"{tag}changes", f"{tag}n")


def doc_pattern(prefix: str, category: str | None = None) -> str:
    """SCAN pattern of the document keys (of one category, or all)."""
    inner = _glob_escape(prefix) + (_glob_escape(category) + "}" if category is not None else "*}")
    return "{" + inner + "doc:*"


def all_patterns(prefix: str) -> list[str]:
    """SCAN patterns of every key under ``prefix``: this layout's, and layout 1's."""
    return ["{" + _glob_escape(prefix) + "*", _glob_escape(prefix) + "*"]


def split_doc_key(prefix: str, key: str) -> tuple[str, str] | None:
    """(category, id) of a document key, None for anything else."""
    head = "{" + prefix
    if not key.startswith(head):
        return None
    category, marker, entry_id = key[len(head):].rpartition("}doc:")
    return (category, entry_id) if marker else None


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


# Shared by both scripts: publish one event with the next ordinal. KEYS[2..4] = quota, stream,
# counter; ARGV[1..3] = category, origin, stream max length.
_PUBLISH = """
local function publish(op, id, version, why)
  local n = redis.call('INCR', KEYS[4])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'op', op, 'id', id, 'ver', version,
             'cat', ARGV[1], 'origin', ARGV[2], 'n', n, 'why', why)
end
"""

# KEYS: doc, quota, stream, counter. ARGV: category, origin, max_len, encoded, expires_ms, id,
# version, max_entries (0 = none), now, doc key prefix (same hash tag, hence same slot).
# Returns the evicted (id, version) pairs, flattened.
PUT = _PUBLISH + """
redis.call('SET', KEYS[1], ARGV[4], 'PXAT', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[6])
publish('add', ARGV[6], ARGV[7], 'stored')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[9])
local evicted = {}
local quota = tonumber(ARGV[8])
if quota > 0 then
  local excess = redis.call('ZCARD', KEYS[2]) - quota
  if excess > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], excess)
    for i = 1, #popped, 2 do
      redis.call('DEL', ARGV[10] .. popped[i])
      publish('remove', popped[i], popped[i + 1], 'evicted')
      evicted[#evicted + 1] = popped[i]
      evicted[#evicted + 1] = popped[i + 1]
    end
  end
end
return evicted
"""

# KEYS: doc, quota, stream, counter. ARGV: category, origin, max_len, id. The version comes
# from the quota set (exact digits); 1 when a document was deleted, 0 when there was none.
DELETE = _PUBLISH + """
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local version = redis.call('ZSCORE', KEYS[2], ARGV[4]) or '+inf'
redis.call('ZREM', KEYS[2], ARGV[4])
publish('remove', ARGV[4], version, 'deleted')
return 1
"""
