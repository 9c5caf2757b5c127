"""In-process helpers for tests of applications that use litellm-semcache.

    from litellm_semcache.testing import FakeClock, FakeEmbedder, MemoryStore, StandInModel

- :class:`FakeClock`: move time by hand (TTL and expiry tests without sleeping).
- :class:`MemoryStore`: a document store in a dict.
- :class:`FakeEmbedder`: vectors without a model (wrap it in ``MemoEmbedder``).
- :class:`StandInModel`: a local OpenAI-compatible model server that counts its calls and
  misbehaves on demand (:class:`Misbehaviour`: truncated streams, content filter, length,
  tool calls, null content, errors).
"""

from litellm_semcache.testing.fakes import FakeClock, FakeEmbedder, MemoryStore
from litellm_semcache.testing.standin import Misbehaviour, StandInModel

__all__ = ["FakeClock", "FakeEmbedder", "Misbehaviour", "MemoryStore", "StandInModel"]
