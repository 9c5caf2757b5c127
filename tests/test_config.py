"""Bad policy files fail with one clear line per problem, naming the key; never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from litellm_semcache import ConfigError, load_settings
from litellm_semcache.config import BUILTIN_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "semcache.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [
    ("categories:\n  code:\n    similarity_threshold: 1.5\n",
     "categories.code.similarity_threshold: Input should be less than or equal to 1 (got 1.5)"),
    ("categories:\n  code:\n    similarity_threshold: high\n",
     "categories.code.similarity_threshold: Input should be a valid number"),
    ("categories:\n  code:\n    ttl_seconds: -5\n", "categories.code.ttl_seconds"),
    ("categories:\n  code:\n    similarity_treshold: 0.9\n",
     "categories.code.similarity_treshold: unknown key (did you mean 'similarity_threshold'?)"),
    ("categories:\n  code:\n    mode: sometimes\n", "categories.code.mode"),
    ("categories:\n  code:\n    similarity_threshold: 0.9\n    threshold_floor: 0.95\n",
     "threshold_floor (0.95) must not exceed similarity_threshold (0.9)"),
    ("categories:\n  code:\n    ttl_seconds: 100\n    ttl_cap: 50\n", "ttl_cap (50) must not be below"),
    ("rules:\n  - category: fiance\n    keywords: [stock]\ncategories:\n  finance: {}\n",
     "rules[0].category: unknown category 'fiance' (did you mean 'finance'?)"),
    ("rules:\n  - category: default\n    regex: '([a-z'\n", "invalid regular expression"),
    ("rules:\n  - category: default\n", "a rule needs at least one of"),
    ("categories:\n  code: [1, 2\n", "invalid YAML at line"),
    ("- just\n- a list\n", "the top level must be a mapping"),
    ("lookup_deadline_ms: 0\n", "lookup_deadline_ms"),
    ("embedings:\n  model: x\n", "embedings: unknown key (did you mean 'embedding'?)"),
])
def test_invalid_config_names_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text))
    assert expected in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_settings(write(tmp_path, "categories: !!python/object/apply:os.system ['true']\n"))


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCACHE_CATEGORIES__CHAT__TTL_SECONDS", "60")
    monkeypatch.setenv("SEMCACHE_LOOKUP_DEADLINE_MS", "20")
    settings = load_settings(write(tmp_path, "categories:\n  chat:\n    similarity_threshold: 0.8\n"
                                             "    ttl_seconds: 3600\n"))
    assert settings.categories["chat"].ttl_seconds == 60
    assert settings.categories["chat"].similarity_threshold == 0.8
    assert settings.lookup_deadline_ms == 20


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMCACHE_CONFIG", raising=False)
    assert "code" in load_settings(None).categories  # built-in defaults
    write(tmp_path, "categories:\n  only:\n    similarity_threshold: 0.9\n")
    assert "only" in load_settings(None).categories  # ./semcache.yaml, over the built-in policy
    assert "code" in load_settings(None).categories


def test_threshold_zero_is_honoured_not_dropped(tmp_path):
    settings = load_settings(write(tmp_path, "categories:\n  chat:\n    similarity_threshold: 0\n"
                                             "    threshold_floor: null\n"))
    assert settings.categories["chat"].similarity_threshold == 0.0


def test_example_config_is_the_builtin_policy():
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    builtin = yaml.safe_load(BUILTIN_DEFAULTS.read_text())
    assert {k: v for k, v in example.items() if k in builtin} == builtin
    assert load_settings(ROOT / "config.example.yaml").categories["medical"].sensitive


def test_cli_check_config_reports_errors_without_a_traceback(tmp_path):
    semcache = shutil.which("semcache", path=str(Path(sys.executable).parent))
    assert semcache, "the semcache console script is installed with the package"
    bad = write(tmp_path, "categories:\n  code:\n    similarity_threshold: 2\n")
    result = subprocess.run([semcache, "check-config", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "categories.code.similarity_threshold" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    good = subprocess.run([semcache, "check-config", str(ROOT / "config.example.yaml")],
                          capture_output=True, text=True)
    assert good.returncode == 0 and "medical" in good.stdout
