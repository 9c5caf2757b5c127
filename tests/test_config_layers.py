"""A policy file overlays the shipped policy; the environment changes what the files define and
names itself in errors; paths and booleans mean one thing wherever the policy is read from."""

from __future__ import annotations

import os
import subprocess
import re
import sys
from pathlib import Path

import pytest

from litellm_semcache import ConfigError, load_settings
from litellm_semcache.config import BUILTIN_DEFAULTS

SHIPPED = load_settings(BUILTIN_DEFAULTS)


@pytest.fixture(autouse=True)
def _no_semcache_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SEMCACHE_"):
            monkeypatch.delenv(name)


def policy(tmp_path: Path, text: str, name: str = "semcache.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_file_with_only_a_store_keeps_every_shipped_category(tmp_path):
    settings = load_settings(policy(tmp_path, "store:\n  size_limit_mb: 64\n"))

    assert settings.categories == SHIPPED.categories
    assert settings.rules == SHIPPED.rules
    assert settings.store.size_limit_mb == 64
    assert settings.store.path == SHIPPED.store.path  # the rest of the section kept


def test_categories_merge_by_name(tmp_path):
    settings = load_settings(policy(tmp_path, "categories:\n  code:\n    similarity_threshold: 0.95\n"
                                              "  support:\n    similarity_threshold: 0.9\n"
                                              "    examples: [Where is my order]\n"))

    code = settings.categories["code"]
    assert code.similarity_threshold == 0.95
    assert code.ttl_seconds == SHIPPED.categories["code"].ttl_seconds
    assert code.examples == SHIPPED.categories["code"].examples
    assert set(settings.categories) == set(SHIPPED.categories) | {"support"}


def test_remove_categories_drops_a_builtin_one_and_its_rules(tmp_path):
    settings = load_settings(policy(tmp_path, "remove_categories: [finance, legal]\n"))

    assert "finance" not in settings.categories and "legal" not in settings.categories
    assert all(rule.category != "finance" for rule in settings.rules)
    assert any(rule.category == "code" for rule in settings.rules)


@pytest.mark.parametrize("text, expected", [
    ("remove_categories: [legl]\n", "no built-in category 'legl' (did you mean 'legal'?)"),
    ("remove_categories: [default]\n", "'default' cannot be removed"),
    ("remove_categories: legal\n", "must be a list of category names"),
    ("remove_category: [legal]\n", "unknown key (did you mean 'remove_categories'?)"),
])
def test_remove_categories_mistakes_are_clear_errors(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=None) as error:
        load_settings(policy(tmp_path, text))
    assert expected in str(error.value)


def test_a_rules_list_in_the_file_replaces_the_builtin_rules(tmp_path):
    settings = load_settings(policy(tmp_path, "rules:\n  - category: docs\n    keywords: [api]\n"))

    assert [rule.category for rule in settings.rules] == ["docs"]


def test_sources_name_the_files_and_variables_read(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCACHE_LOOKUP_DEADLINE_MS", "100")
    path = policy(tmp_path, "log_level: warning\n")
    settings = load_settings(path)

    assert str(BUILTIN_DEFAULTS) in settings.sources[0]
    assert settings.sources[1] == str(path.resolve())
    assert settings.sources[2] == "environment: SEMCACHE_LOOKUP_DEADLINE_MS"


@pytest.mark.parametrize("variable, value, expected", [
    ("SEMCACHE_LOOKUP_DEADLINE_MS", "soon",
     "SEMCACHE_LOOKUP_DEADLINE_MS (lookup_deadline_ms): Input should be a valid number"),
    ("SEMCACHE_STORE__SIZE_LIMIT_MB", "0",
     "SEMCACHE_STORE__SIZE_LIMIT_MB (store.size_limit_mb): Input should be greater than"),
    ("SEMCACHE_METRICS_PROT", "9464",
     "SEMCACHE_METRICS_PROT: not a litellm-semcache setting (did you mean SEMCACHE_METRICS_PORT?)"),
    ("SEMCACHE_CATEGORIES__FINANCEE__TTL_SECONDS", "60",
     ("SEMCACHE_CATEGORIES__FINANCEE__TTL_SECONDS: the policy has no category 'financee' "
      "(did you mean 'finance'?)")),
    ("SEMCACHE_RULES", "[{", "SEMCACHE_RULES: invalid JSON"),
    ("SEMCACHE_CATEGORIES__CHAT__SHARED", "yes",
     "SEMCACHE_CATEGORIES__CHAT__SHARED (categories.chat.shared): Input should be a valid boolean"),
])
def test_environment_errors_name_the_variable(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(None)
    assert expected in str(error.value)


def test_environment_values_reach_the_settings(monkeypatch):
    monkeypatch.setenv("SEMCACHE_CATEGORIES__FINANCE__SHARED", "true")
    monkeypatch.setenv("SEMCACHE_METRICS_PORT", "9464")
    monkeypatch.setenv("SEMCACHE_CATEGORIES__CHAT__TTL_CAP", "null")
    monkeypatch.setenv("SEMCACHE_VLLM_PUSH", "127.0.0.1:9100")  # the vLLM plugin's, not ours
    settings = load_settings(None)

    assert settings.categories["finance"].shared is True
    assert settings.metrics_port == 9464
    assert settings.categories["chat"].ttl_cap is None


@pytest.mark.parametrize("value", ["1", "'yes'", "'true'"])
def test_shared_takes_only_a_boolean(tmp_path, value):
    with pytest.raises(ConfigError, match="categories.finance.shared: Input should be a valid "
                                          "boolean"):
        load_settings(policy(tmp_path, f"categories:\n  finance:\n    shared: {value}\n"))


def test_deeply_nested_yaml_is_an_error_naming_the_file(tmp_path):
    text = "categories:\n" + "".join("  " * depth + "x:\n" for depth in range(1, 3000))
    path = policy(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(path) in str(error.value) and "nested too deeply" in str(error.value)


def test_the_default_store_path_is_absolute_and_independent_of_the_working_directory(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = load_settings(None).store.path
    monkeypatch.chdir(tmp_path.parent)

    assert Path(here).is_absolute() and here == load_settings(None).store.path
    assert here.endswith(os.path.join("litellm-semcache", "store"))


def test_a_relative_store_path_in_a_file_is_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    path = policy(tmp_path / "etc", "store:\n  path: ../cache/store\n")
    monkeypatch.chdir("/")

    assert load_settings(path).store.path == str((tmp_path / "cache" / "store").resolve())


def test_an_unusable_store_path_names_store_path(tmp_path):
    from litellm_semcache import SemanticCache
    from litellm_semcache.embedding import MemoEmbedder
    from litellm_semcache.testing import FakeEmbedder

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = load_settings(policy(tmp_path, f"store:\n  path: {blocker}\n"))
    # the cache never keeps the proxy down: it starts, bypasses, and says why
    cache = SemanticCache(settings, embedder=MemoEmbedder(FakeEmbedder(), 8))
    assert not cache.available
    assert re.search("store.path: cannot use .*a-file as the cache store: "
                     "it is a file, not a directory", cache.store_problem)


def test_check_config_prints_the_merged_policy_and_where_it_came_from(tmp_path):
    semcache = Path(sys.executable).with_name("semcache")
    path = policy(tmp_path, "categories:\n  code:\n    similarity_threshold: 0.95\n"
                            "remove_categories: [legal]\n")
    env = {**os.environ, "SEMCACHE_CATEGORIES__FINANCE__SHARED": "true"}
    result = subprocess.run([str(semcache), "check-config", str(path)], capture_output=True,
                            text=True, env=env, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(built-in policy)" in out and str(path.resolve()) in out
    assert "environment: SEMCACHE_CATEGORIES__FINANCE__SHARED" in out
    assert "0.95" in out and "medical" in out and "legal" not in out
    assert "shared:     finance" in out
    for setting in ("store:", "embedding:", "metrics:"):
        assert setting in out
