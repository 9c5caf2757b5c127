"""Policy configuration: YAML file + environment overrides, validated into typed settings.

One similarity scale everywhere: cosine similarity in [0, 1], higher = stricter. Values are
validated at load time so that a typo or an out-of-range threshold is a clear error naming the
key, never a silently disabled cache (the bug several peers shipped).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, ValidationError,
                      field_validator, model_validator)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from litellm_semcache import config_layers
from litellm_semcache.config_layers import suggest as _suggest
from litellm_semcache.adaptation_settings import (AutoBypassSettings, LoadDeployment,
                                                  LoadPolicySettings)
from litellm_semcache.errors import ConfigError

DEFAULT_CATEGORY = "default"
CONFIG_ENV_VAR = "SEMCACHE_CONFIG"
LOCAL_CONFIG_FILE = "semcache.yaml"
BUILTIN_DEFAULTS = Path(__file__).with_name("defaults.yaml")
WRITER_KINDS = ("key", "team", "org", "user")  # writer names of shared categories: <kind>:<id>


class Mode(str, Enum):
    """What a category does with a candidate that passes every check."""

    ON = "on"  # serve it
    SHADOW = "shadow"  # record "would have hit", never serve
    OFF = "off"  # neither look up nor store


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CategoryPolicy(_Strict):
    """Per-category cache policy; bounds for the load policy live here too."""

    similarity_threshold: float = Field(0.95, ge=0.0, le=1.0)
    ttl_seconds: int = Field(3600, ge=0, description="absolute expiry; 0 = never store")
    max_entries: int = Field(10_000, ge=1)
    sensitive: bool = False
    # strict: "yes", 1 or "false" as a string must not decide whether tenants share answers
    shared: StrictBool = Field(False, description="entries serve every tenant (API key, team, "
                                                  "user); model, parameters and context must "
                                                  "still match")
    writers: list[str] | None = Field(
        None, description="shared categories: who may write entries (key:<user_api_key_hash>, "
                          "team:<id>, org:<id>, user:<id>); unset = any tenant, but only for "
                          "requests the cache categorised itself (never a client's label)")
    store_length_limited: bool = Field(False, description="store answers cut off at the token "
                                                          "limit (finish_reason length)")
    store_tool_calls: bool = Field(False, description="store answers that call tools")
    threshold_floor: float | None = Field(None, ge=0.0, le=1.0)
    ttl_cap: int | None = Field(None, ge=0)
    mode: Mode = Mode.ON
    guard: bool = True
    verifier_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="operating point of the default verifier's score: a "
                                         "candidate scoring lower is not served (higher = stricter)")
    verifier_floor: float | None = Field(None, ge=0.0, le=1.0, description="how far the load "
                                         "policy may lower verifier_threshold; None = never")
    stale_grace_seconds: int | None = Field(None, ge=0, description="how long past its TTL an "
                                            "answer is kept, served only while its model is "
                                            "overloaded; None = load_policy's default, 0 = off")
    auto_bypass: bool | None = Field(None, description="stop looking up while the hit rate stays "
                                     "below break-even; None = auto_bypass.enabled")
    examples: list[str] = Field(default_factory=list)
    description: str = ""

    @field_validator("writers")
    @classmethod
    def _writers_are_named(cls, value: list[str] | None) -> list[str] | None:
        for writer in value or []:
            kind, _, name = writer.partition(":")
            if kind not in WRITER_KINDS or not name:
                raise ValueError(f"writer {writer!r} must be one of "
                                 f"{', '.join(k + ':<id>' for k in WRITER_KINDS)}")
        return value

    @model_validator(mode="after")
    def _bounds_are_consistent(self) -> "CategoryPolicy":
        if self.threshold_floor is not None and self.threshold_floor > self.similarity_threshold:
            raise ValueError(
                f"threshold_floor ({self.threshold_floor}) must not exceed "
                f"similarity_threshold ({self.similarity_threshold})"
            )
        if self.ttl_cap is not None and self.ttl_cap < self.ttl_seconds:
            raise ValueError(
                f"ttl_cap ({self.ttl_cap}) must not be below ttl_seconds ({self.ttl_seconds})"
            )
        if self.verifier_floor is not None and self.verifier_floor > self.verifier_threshold:
            raise ValueError(f"verifier_floor ({self.verifier_floor}) must not exceed "
                             f"verifier_threshold ({self.verifier_threshold}); lowering "
                             "verifier_threshold below the shipped floor: set verifier_floor "
                             "lower too, or null")
        if self.sensitive and self.stale_grace_seconds:
            raise ValueError("stale_grace_seconds: a sensitive category is never served stale")
        return self


class Rule(_Strict):
    """Maps requests to a category by model/model group, regex or keywords (first match wins)."""

    category: str
    models: list[str] = Field(default_factory=list, description="fnmatch patterns")
    regex: str | None = None
    keywords: list[str] = Field(default_factory=list)

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_a_condition(self) -> "Rule":
        if not (self.models or self.regex or self.keywords):
            raise ValueError("a rule needs at least one of: models, regex, keywords")
        return self


class EmbeddingSettings(_Strict):
    model: str | None = Field(None, description="path or sentence-transformers name; None = "
                                                "bundled all-MiniLM-L6-v2")
    backend: str = Field("auto", pattern="^(auto|onnx|torch)$")
    memo_size: int = Field(1024, ge=0)
    cache_dir: str | None = Field(None, description="where the ONNX export is kept")
    threads: int | None = Field(None, ge=1, le=64, description="ONNX threads; None = cores/2, ≤ 4")
    batch_max: int = Field(16, ge=1, le=256, description="lookups embedded in one model call")
    batch_wait_ms: float = Field(1.0, ge=0, le=2, description="a batch's wait for more lookups")
    queue_max: int = Field(256, ge=1, description="lookups waiting for an embedding; beyond it "
                           "(or past the deadline) a lookup is a miss, reason overloaded")


class StoreSettings(_Strict):
    backend: str = Field("diskcache", pattern="^(diskcache|redis)$",
                         description="diskcache: one machine; redis: several replicas share one")
    path: str = Field(default_factory=lambda: default_store_path(),
                      description="diskcache directory (and index snapshots); a relative path in "
                                  "a policy file is relative to that file")
    size_limit_mb: int = Field(4096, ge=1)
    redis_url: str = Field("redis://127.0.0.1:6379/0",
                           description="redis://[user:password@]host:port/db, rediss:// or unix://")
    redis_prefix: str = Field("semcache:", min_length=1, description="namespace of every key")
    redis_timeout_ms: float = Field(250.0, gt=0, le=60_000,
                                    description="socket timeout of one Redis operation")
    redis_cluster: bool = Field(False, description="redis_url names one node of a Redis "
                                "Cluster (keys are hash-tagged by category)")
    redis_wait_replicas: int = Field(0, ge=0, le=16, description="a write counts as stored "
                                     "only once this many Redis replicas have it (WAIT)")
    snapshot_path: str | None = Field(None, description="where index snapshots are saved "
                                      "(diskcache: default <path>/index-snapshot; redis: none)")
    redis_stream_max_len: int = Field(100_000, ge=100,
                                      description="change events kept for replicas that fall behind")

    @field_validator("path")
    @classmethod
    def _path_is_anchored(cls, value: str) -> str:
        # resolved once, at load time: the process (or `semcache stats`) may run elsewhere
        return str(Path(os.path.expanduser(value)).absolute()) if value else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        try:
            parts.port  # noqa: B018 - raises for a non-numeric port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("needs a host, e.g. redis://127.0.0.1:6379/0")
        return value


class IndexSettings(_Strict):
    m: int = Field(16, ge=4, le=128)
    ef_construction: int = Field(100, ge=8)
    ef_search: int = Field(64, ge=1)
    initial_capacity: int = Field(1024, ge=16)
    exact_search_limit: int = Field(
        1024, ge=1, description="scopes up to this size are searched exactly, larger ones by HNSW")


class CacheSettings(BaseSettings):
    """The whole policy. Environment variables override the file: ``SEMCACHE_<KEY>``, nested
    keys joined with ``__`` (e.g. ``SEMCACHE_CATEGORIES__CHAT__TTL_SECONDS=60``)."""

    model_config = SettingsConfigDict(
        env_prefix="SEMCACHE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    categories: dict[str, CategoryPolicy] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    centroid_min_similarity: float = Field(0.35, ge=0.0, le=1.0)
    centroid_margin: float = Field(0.03, ge=0.0, le=1.0)
    classifier: str = Field("builtin", pattern="^(builtin|centroids)$",
                            description="builtin: the shipped head decides the shipped categories "
                                        "(categories you add use their examples' centroid); "
                                        "centroids: every category by its examples' centroid")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    lookup_deadline_ms: float = Field(250.0, gt=0)
    single_flight_wait_ms: float = Field(
        5000.0, ge=0, description="identical concurrent misses wait this long for the first "
                                  "one's answer instead of calling the model; 0 = off")
    max_prompt_chars: int = Field(8000, ge=1)
    max_response_bytes: int = Field(1_000_000, ge=1)
    log_prompts: bool = False
    log_level: str = Field("info", pattern="^(debug|info|warning|error|critical)$",
                           description="debug: one event per decision; info: a summary per "
                                       "log_summary_seconds")
    log_summary_seconds: float = Field(60.0, ge=0, description="info summary of the decisions "
                                                               "every so often; 0 = none")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="own Prometheus endpoint")
    metrics_host: str = "127.0.0.1"
    load_policy: LoadPolicySettings = Field(default_factory=LoadPolicySettings)
    auto_bypass: AutoBypassSettings = Field(default_factory=AutoBypassSettings)
    _sources: list[str] = PrivateAttr(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """Where this policy came from, in order: files read, then environment variables."""
        return list(self._sources)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() applies the environment itself (so that errors name the variable and
        # typos are caught); a CacheSettings built in code is exactly what it was given.
        return (init_settings,)

    @model_validator(mode="after")
    def _complete_categories(self) -> "CacheSettings":
        if DEFAULT_CATEGORY not in self.categories:
            # Strict by design: unknown traffic needs near-identical wording to hit.
            self.categories = {**self.categories, DEFAULT_CATEGORY: CategoryPolicy(
                similarity_threshold=0.97, ttl_seconds=3600, description="fallback; strict")}
        for position, rule in enumerate(self.rules):
            if rule.category not in self.categories:
                raise ValueError(
                    f"rules[{position}].category: unknown category {rule.category!r}"
                    f"{_suggest(rule.category, self.categories)}; known: "
                    f"{', '.join(sorted(self.categories))}"
                )
        return self

    def policy(self, category: str) -> CategoryPolicy:
        return self.categories.get(category) or self.categories[DEFAULT_CATEGORY]


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "categories": CategoryPolicy,
    "rules": Rule,
    "embedding": EmbeddingSettings,
    "store": StoreSettings,
    "index": IndexSettings,
    "load_policy": LoadPolicySettings,
    "auto_bypass": AutoBypassSettings,
}


def default_store_path() -> str:
    """Beside the ONNX export cache: ``$XDG_CACHE_HOME/litellm-semcache/store``."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(root / "litellm-semcache" / "store")


def load_settings(config: "str | os.PathLike[str] | CacheSettings | Mapping[str, Any] | None" = None
                  ) -> CacheSettings:
    """Resolve a config argument the way ``install()`` documents it.

    None -> file named by ``$SEMCACHE_CONFIG``, else ``./semcache.yaml``, else the built-in
    policy. A file overlays the built-in policy (see :mod:`litellm_semcache.config_layers`); a
    mapping is a complete policy. ``SEMCACHE_*`` variables override either.
    """
    if isinstance(config, CacheSettings):
        return config
    if isinstance(config, Mapping):
        return _settle(dict(config), source="<mapping>", files=[])
    path, source = _policy_file(config)
    data = config_layers.read_yaml(BUILTIN_DEFAULTS, "built-in policy")
    files = [f"{BUILTIN_DEFAULTS} (built-in policy)"]
    if path is not None and path.resolve() != BUILTIN_DEFAULTS.resolve():
        layer = config_layers.read_yaml(path, source)
        config_layers.anchor_store_path(layer, path.resolve().parent)
        data = config_layers.overlay(data, layer, DEFAULT_CATEGORY, str(path))
        files.append(str(path.resolve()))
    return _settle(data, source=str(path or BUILTIN_DEFAULTS), files=files)


def _policy_file(config: str | os.PathLike[str] | None) -> tuple[Path | None, str]:
    if config is not None:
        return Path(config), str(config)
    named = os.environ.get(CONFIG_ENV_VAR)
    if named:
        return Path(named), f"${CONFIG_ENV_VAR}={named}"
    local = Path(LOCAL_CONFIG_FILE)
    return (local, str(local)) if local.is_file() else (None, "built-in policy")


def _settle(data: dict[str, Any], *, source: str, files: list[str]) -> CacheSettings:
    """The environment over ``data``, validated; remembers where it all came from."""
    env, origins = config_layers.environment(os.environ, CacheSettings.model_fields)
    data = config_layers.apply_environment(data, env, origins, source)
    try:
        settings = CacheSettings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid config:\n" + _describe(exc, origins)) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a policy") from None
    settings._sources = files + ([f"environment: {', '.join(sorted(origins.values()))}"]
                                 if origins else [])
    return settings


def _describe(exc: ValidationError, origins: config_layers.Origins) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        variable = config_layers.env_var_for(error["loc"], origins)
        if variable:
            key = f"{variable} ({key})"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            known = _known_keys(error["loc"][:-1])
            message = f"unknown key{_suggest(str(error['loc'][-1]), known)}"
        elif "input" in error and not isinstance(error["input"], (dict, list)):
            message += f" (got {_redact(error['input'])!r})"
        lines.append(f"  - {key}: {message}")
    return "\n".join(lines)


def _redact(value: Any) -> Any:
    """Hide a password in a URL-like value: config errors end up in logs."""
    if isinstance(value, str):
        return re.sub(r"(://[^/@\s]*?:)[^/@\s]*@", r"\1***@", value)
    return value


def _known_keys(parent: tuple[Any, ...]) -> list[str]:
    if not parent:
        return [*CacheSettings.model_fields, config_layers.REMOVE_KEY]
    section = _SECTION_MODELS.get(str(parent[0]))
    return list(section.model_fields) if section else []
