"""Property tests: isolation holds for any tenants and prompts; any config input fails cleanly."""

from __future__ import annotations

import pytest
import yaml
from helpers import chat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litellm_semcache import ConfigError, load_settings
from helpers import expected_for_reader, interleave

PROMPTS = ["Tell me a joke", "Tell me a joke please", "How do I reverse a list in Python?",
           "What is the capital of France?", "hi, how are you today?"]
tenants = st.sampled_from(["key-a", "key-b", "key-c"])
identity_fields = st.sampled_from(["user_api_key_hash", "user_api_key_team_id",
                                   "user_api_key_org_id", "user_api_key_end_user_id"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(others=st.lists(st.tuples(tenants, identity_fields, st.sampled_from(PROMPTS)), max_size=6),
       reader=st.tuples(tenants, identity_fields), asked=st.sampled_from(PROMPTS),
       own=st.lists(st.sampled_from(PROMPTS), max_size=2), position=st.integers(0, 6))
def test_a_hit_always_comes_from_the_readers_own_tenant(make_cache, others, reader, asked, own,
                                                        position):
    """Other tenants (any identity field but the reader's own) write any prompts, the reader
    maybe some of its own; every example has a definite expected outcome (no branch that passes
    when nothing hits): see :func:`helpers.expected_for_reader`."""
    cache = make_cache()
    cache.flush()
    writes = interleave([(t, f, p) for t, f, p in others if (t, f) != reader],
                        [(*reader, prompt) for prompt in own], position)
    for number, (tenant, field, prompt) in enumerate(writes):
        cache.store(chat(prompt, metadata={field: tenant}), {"owner": [tenant, field], "n": number})
    decision = cache.lookup(chat(asked, metadata={reader[1]: reader[0]}))
    expected_for_reader(writes, reader, asked).check(decision)


config_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) |
    st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["categories", "code", "chat", "similarity_threshold", "ttl_seconds",
                         "mode", "rules", "category", "regex", "keywords", "store", "path",
                         "embedding", "typo", "default", "max_entries"]), children, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=config_values)
def test_any_yaml_document_loads_or_raises_config_error(tmp_path, document):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        load_settings(path)
    except ConfigError as error:
        assert str(path) in str(error)


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00bad", b"categories: [", b"\x00" * 10])
def test_binary_garbage_is_a_config_error(tmp_path, raw):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError):
        load_settings(path)
