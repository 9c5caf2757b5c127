"""How a policy is put together from layers: the shipped policy, a file over it, the environment
over both. Plain dictionaries in, plain dictionaries out; :mod:`litellm_semcache.config`
validates the result.

- A **file overlays the shipped policy**: its categories merge into the built-in ones by name
  (a file that only tunes ``code`` keeps every other category), its sections (``store``,
  ``embedding``, ...) merge key by key, and a ``rules`` list replaces the built-in rules.
  ``remove_categories: [legal]`` drops a built-in category (and the built-in rules for it).
  Without this a file holding only ``store:`` silently replaced every category by one strict
  ``default``.
- The **environment changes what the files define**: ``SEMCACHE_<KEY>``, nested keys joined by
  ``__``. A variable whose name is not a setting is an error with a suggestion (a typo would
  otherwise be ignored), and so is one that would create a category (``..._FINANCEE__...``):
  categories are made in files, where they are reviewed.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from litellm_semcache.errors import ConfigError

ENV_PREFIX = "SEMCACHE_"
REMOVE_KEY = "remove_categories"
# SEMCACHE_* variables that are not policy settings: the policy file's name and the vLLM
# plugin's own settings (read inside vLLM, see vllm_hooks).
NOT_SETTINGS = frozenset({"SEMCACHE_CONFIG"})
NOT_SETTINGS_PREFIXES = ("SEMCACHE_VLLM_",)
_SECTIONS = ("embedding", "store", "index", "load_policy")  # merged key by key
Origins = dict[tuple[str, ...], str]  # settings path -> environment variable
Values = dict[tuple[str, ...], Any]  # settings path -> value from the environment


def overlay(base: Mapping[str, Any], layer: Mapping[str, Any], default_category: str,
            source: str) -> dict[str, Any]:
    """``layer`` (a policy file) over ``base`` (the shipped policy)."""
    merged = {key: value for key, value in base.items()}
    removed = _removed(layer.get(REMOVE_KEY), base.get("categories") or {}, default_category,
                       source)
    for key, value in layer.items():
        if key == REMOVE_KEY:
            continue
        if key == "categories" and isinstance(value, Mapping):
            merged[key] = _merge_categories(base.get(key) or {}, value)
        elif key in _SECTIONS and isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    if removed:
        merged["categories"] = {name: policy for name, policy in
                                (merged.get("categories") or {}).items() if name not in removed}
        if "rules" not in layer:  # the file's own rules are its business (and validated)
            merged["rules"] = [rule for rule in merged.get("rules") or []
                               if not (isinstance(rule, Mapping) and rule.get("category") in removed)]
    return merged


def _merge_categories(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, policy in layer.items():
        if isinstance(policy, Mapping) and isinstance(base.get(name), Mapping):
            merged[name] = {**base[name], **policy}
        else:
            merged[name] = policy  # new, or not a mapping (validation names the problem)
    return merged


def _removed(names: Any, categories: Mapping[str, Any], default_category: str,
             source: str) -> set[str]:
    if names is None:
        return set()
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"{source}: invalid config:\n  - {REMOVE_KEY}: must be a list of "
                          "category names")
    problems = []
    for name in names:
        if name == default_category:
            problems.append(f"  - {REMOVE_KEY}: {name!r} cannot be removed (it takes every "
                            "request nothing else claims); make it stricter instead")
        elif name not in categories:
            problems.append(f"  - {REMOVE_KEY}: no built-in category {name!r}"
                            f"{suggest(name, categories)}")
    if problems:
        raise ConfigError(f"{source}: invalid config:\n" + "\n".join(problems))
    return set(names)


def environment(environ: Mapping[str, str], settings: Iterable[str]) -> tuple[Values, Origins]:
    """The ``SEMCACHE_*`` overrides by settings path, and which variable set each one."""
    known = sorted(settings)
    values: Values = {}
    origins: Origins = {}
    problems = []
    for name in sorted(environ):
        if (not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS
                or name.startswith(NOT_SETTINGS_PREFIXES)):
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        if path[0] not in known or not all(path):
            close = difflib.get_close_matches(path[0], known, n=1)
            hint = f" (did you mean {ENV_PREFIX}{close[0].upper()}?)" if close else ""
            problems.append(f"  - {name}: not a litellm-semcache setting{hint}")
            continue
        try:
            values[path] = _value(environ[name])
        except ValueError as exc:
            problems.append(f"  - {name}: {exc}")
            continue
        origins[path] = name
    if problems:
        raise ConfigError("invalid environment:\n" + "\n".join(problems))
    return values, origins


def apply_environment(data: Mapping[str, Any], values: Values, origins: Origins,
                      source: str) -> dict[str, Any]:
    """``values`` over ``data``; a variable that names a category ``data`` does not have is an
    error (a typo that would quietly add a category with default settings)."""
    categories = data.get("categories") if isinstance(data.get("categories"), Mapping) else {}
    problems = []
    for path, name in origins.items():
        if path[0] == "categories" and len(path) > 2 and path[1] not in categories:
            problems.append(f"  - {name}: the policy has no category {path[1]!r}"
                            f"{suggest(path[1], categories)}; the environment changes "
                            "categories, a policy file creates them")
    if problems:
        raise ConfigError(f"{source}: invalid environment:\n" + "\n".join(problems))
    merged = dict(data)
    for path, value in values.items():
        node = merged  # copied along the path only: ``data`` stays as it was
        for part in path[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, Mapping) else {}
            node = node[part]
        node[path[-1]] = value
    return merged


def anchor_store_path(data: dict[str, Any], directory: Path) -> None:
    """A relative ``store.path`` in a file is relative to that file, not to the current
    directory of whoever runs the proxy or ``semcache stats``."""
    store = data.get("store")
    if isinstance(store, dict) and isinstance(store.get("path"), str):
        path = Path(os.path.expanduser(store["path"]))
        if not path.is_absolute():
            store["path"] = str((directory / path).resolve())


def env_var_for(loc: tuple[Any, ...], origins: Origins) -> str | None:
    """The variable that set the value at ``loc`` (or one of its parents), if any."""
    parts = tuple(str(part) for part in loc)
    for length in range(len(parts), 0, -1):
        if parts[:length] in origins:
            return origins[parts[:length]]
    return None


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _value(raw: str) -> Any:
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    return text


def read_yaml(path: Path, source: str) -> dict[str, Any]:
    """One policy layer from a YAML file: a mapping, or a :class:`ConfigError` naming the file."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (from {source})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a policy") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data
