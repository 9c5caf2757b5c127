"""Fuzzed malformed requests: validate() raises InvalidRequest with a message or accepts;
lookup() and store() always answer (bypass/miss/stored), never raise."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import BYPASS, HIT, MISS, SHADOW_HIT
from litellm_semcache.errors import InvalidRequest

scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | \
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) |
                        st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
content = st.text(max_size=60) | st.lists(st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "?"]), "text": anything}), max_size=3) | anything
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", ""]),
                                 "content": content}) | anything
controls = st.dictionaries(st.sampled_from(["no-cache", "no-store", "ttl", "s-maxage",
                                            "s-max-age", "namespace", "bogus"]), anything,
                           max_size=4) | anything
requests = st.fixed_dictionaries(
    {}, optional={"model": anything, "messages": st.lists(message, max_size=4) | anything,
                  "prompt": anything, "cache": controls,
                  "metadata": st.dictionaries(st.sampled_from(
                      ["category", "semcache_category", "user_api_key_hash", "model_group",
                       "tags"]), anything, max_size=3) | anything,
                  "temperature": anything, "stream": anything})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests, response=anything)
def test_malformed_requests_get_clear_errors_never_a_crash(make_cache, request, response):
    cache = _shared(make_cache)
    try:
        cache.validate(request)
    except InvalidRequest as exc:
        assert str(exc)  # a message saying what is wrong
    decision = cache.lookup(request)
    assert decision.outcome in (HIT, MISS, BYPASS, SHADOW_HIT)
    assert decision.reason != "fail_open", decision  # malformed input is not a cache fault
    stored = cache.store(request, response)
    assert stored.outcome in ("stored", BYPASS) and stored.reason != "fail_open", stored


_caches: dict[int, object] = {}


def _shared(make_cache):
    """One cache per test run: hypothesis calls the body hundreds of times."""
    key = id(make_cache)
    if key not in _caches:
        _caches.clear()
        _caches[key] = make_cache()
    return _caches[key]
