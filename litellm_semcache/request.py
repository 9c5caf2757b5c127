"""What the cache sees of a request: the text to embed and the exact scope it may hit in.

Only the last user turn is embedded. Everything else that changes the answer (model, system
prompt, earlier turns, tools, sampling parameters, tenant, namespace) is hashed into ``scope``;
a hit requires the same scope, so tenant isolation is a partition of the key space rather than a
filter that a code path could forget to apply.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litellm_semcache.errors import InvalidRequest

# Request parameters that change the answer. LiteLLM's own cache key covers these too (and is
# used instead when present, because LiteLLM's sync path hides them from the backend).
ANSWER_PARAMS = (
    "model", "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "seed", "stop",
    "stream", "tools", "tool_choice", "functions", "function_call", "response_format",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user",
    "reasoning_effort", "parallel_tool_calls", "suffix", "echo", "best_of",
)
# Identity fields the LiteLLM proxy writes into metadata (callers cannot forge them there).
TENANT_FIELDS = (
    "user_api_key_hash", "user_api_key", "user_api_key_team_id", "user_api_key_org_id",
    "user_api_key_user_id", "user_api_key_end_user_id",
)
CATEGORY_METADATA_KEY = "semcache_category"
CATEGORY_TAG_PREFIX = "semcache:"
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class CacheControls:
    """LiteLLM's per-request ``cache={...}`` controls, validated."""

    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None
    s_maxage: float | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class RequestView:
    prompt: str | None  # last user turn; None = nothing to embed (bypass)
    normalized: str
    scope: str  # hex digest of everything but the last turn that changes the answer
    shared_scope: str  # the same without the tenant, for categories shared by all tenants
    tenant: str
    model: str | None
    model_group: str | None
    deployment: str | None  # model_info.id or api_base of the routed deployment (proxy/Router)
    explicit_category: str | None
    controls: CacheControls = field(default_factory=CacheControls)
    bypass_reason: str | None = None

    @property
    def exact_key(self) -> str:
        """Key of the exact fast path and the document id: scope + normalised prompt."""
        return _digest(self.scope, self.normalized)

    def scope_for(self, shared: bool) -> str:
        return self.shared_scope if shared else self.scope

    def entry_id(self, shared: bool) -> str:
        return _digest(self.scope_for(shared), self.normalized)


def view_request(kwargs: Mapping[str, Any], *, upstream_key: str | None = None,
                 max_prompt_chars: int | None = None) -> RequestView:
    """Build the cache's view of one request from LiteLLM-style kwargs.

    ``upstream_key`` is LiteLLM's own cache key (params + tenant, without the messages under the
    semantic key rules); when given it stands in for the parameters, which LiteLLM's sync path
    does not pass to the backend.

    A prompt longer than ``max_prompt_chars`` is refused here, on its raw length, before any
    normalisation: NFKC can grow a hostile text many times over (U+FDFA becomes 18 characters)
    and this runs on the proxy's event loop.
    """
    metadata = _metadata(kwargs)
    controls = parse_controls(kwargs.get("cache"), kwargs.get("ttl"))
    messages = kwargs.get("messages")
    prompt, context, bypass = _split_messages(messages, kwargs.get("prompt"))
    if prompt and max_prompt_chars is not None and len(prompt) > max_prompt_chars:
        prompt, bypass = None, "prompt_too_long"
    tenant = _digest(*(str(metadata.get(name) or "") for name in TENANT_FIELDS))
    params = upstream_key if upstream_key is not None else _params_fingerprint(kwargs)
    # LiteLLM's key already carries the namespace ("ns:<hash>"); its sync lookup hides the
    # ``cache`` controls, so adding the namespace again would split lookup and store scopes.
    namespace = "" if upstream_key is not None else controls.namespace or ""
    scope = _digest(tenant, namespace, params, _canonical(context))
    model_group = _str_or_none(metadata.get("model_group")) or _str_or_none(kwargs.get("model"))
    # LiteLLM's key carries the tenant, so a shared scope is built from the request itself
    # (which the sync path now gets whole too: integrations/litellm_backend._WholeRequestCache).
    shared_scope = _digest("shared", controls.namespace or "",
                           _params_fingerprint({**kwargs, "model": model_group}), _canonical(context))
    normalized = normalize(prompt) if prompt else ""
    return RequestView(
        prompt=prompt or None,
        normalized=normalized,
        scope=scope,
        shared_scope=shared_scope,
        tenant=tenant,
        model=_str_or_none(kwargs.get("model")),
        model_group=model_group,
        deployment=_deployment(kwargs, metadata),
        explicit_category=_explicit_category(metadata, kwargs),
        controls=controls,
        bypass_reason=bypass if not prompt else None,
    )


def normalize(text: str) -> str:
    """Canonical form for the exact fast path: Unicode NFKC, collapsed whitespace. Case is kept
    because it carries meaning in code and identifiers."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def parse_controls(raw: Any, ttl: Any = None) -> CacheControls:
    """``raw`` is the ``cache={...}`` object; ``ttl`` the request's own ``ttl`` (LiteLLM's
    ``ttl=`` kwarg, its ``Cache(ttl=)`` default, the Router's ``ttl``, the proxy's
    ``Cache-Control: s-maxage``), which ``cache={"ttl": N}`` overrides as in LiteLLM."""
    own_ttl = _seconds({"ttl": ttl}, "ttl", "ttl")
    if raw is None:
        return CacheControls(ttl=own_ttl)
    if not isinstance(raw, Mapping):
        raise InvalidRequest(f"'cache' must be an object, got {type(raw).__name__}")
    cache_ttl = _seconds(raw, "ttl")
    return CacheControls(
        no_cache=_flag(raw, "no-cache"),
        no_store=_flag(raw, "no-store"),
        ttl=own_ttl if cache_ttl is None else cache_ttl,
        s_maxage=_seconds(raw, "s-maxage") if "s-maxage" in raw else _seconds(raw, "s-max-age"),
        namespace=_namespace(raw.get("namespace")),
    )


def _split_messages(messages: Any, prompt: Any) -> tuple[str | None, list[Any], str]:
    """Return (last user text, the context before it, bypass reason when there is no text)."""
    if not messages:
        if isinstance(prompt, str) and prompt.strip():
            return prompt, [], ""
        return None, [], "no_messages"
    if not isinstance(messages, list):
        return None, [], "malformed_messages"
    last = messages[-1]
    if not isinstance(last, Mapping) or last.get("role") != "user":
        return None, [], "last_turn_not_user"
    text, only_text = _text_of(last.get("content"))
    if not only_text:
        return None, [], "non_text_content"
    if not text.strip():
        return None, [], "empty_prompt"
    return text, list(messages[:-1]), ""


def _text_of(content: Any) -> tuple[str, bool]:
    if isinstance(content, str):
        return content, True
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                return "", False  # an image or audio part changes the answer: not embeddable
            parts.append(str(part.get("text", "")))
        return "\n".join(parts), True
    return "", False


def _metadata(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    merged: dict[str, Any] = {}
    for name in ("litellm_metadata", "metadata"):
        value = kwargs.get(name)
        if isinstance(value, Mapping):
            merged.update(value)
    return merged


def _deployment(kwargs: Mapping[str, Any], metadata: Mapping[str, Any]) -> str | None:
    for info in (kwargs.get("model_info"), metadata.get("model_info")):
        if isinstance(info, Mapping) and info.get("id"):
            return str(info["id"])
    return _str_or_none(kwargs.get("api_base")) or _str_or_none(metadata.get("api_base"))


def _explicit_category(metadata: Mapping[str, Any], kwargs: Mapping[str, Any]) -> str | None:
    named = metadata.get(CATEGORY_METADATA_KEY)
    if isinstance(named, str) and named.strip():
        return named.strip()
    for tags in (metadata.get("tags"), kwargs.get("tags")):
        if isinstance(tags, list):
            for tag in tags:
                if isinstance(tag, str) and tag.startswith(CATEGORY_TAG_PREFIX):
                    return tag[len(CATEGORY_TAG_PREFIX):].strip() or None
    return None


def _params_fingerprint(kwargs: Mapping[str, Any]) -> str:
    return _canonical({name: kwargs.get(name) for name in ANSWER_PARAMS if kwargs.get(name) is not None})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def _digest(*parts: str) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x1f")
    return hasher.hexdigest()


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _flag(raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(f"cache.{name} must be true or false, got {value!r}")
    return value


def _seconds(raw: Mapping[str, Any], name: str, label: str | None = None) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise InvalidRequest(f"{label or 'cache.' + name} must be a number of seconds >= 0, "
                             f"got {value!r}")
    return float(value)


def _namespace(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise InvalidRequest("cache.namespace must be a string of at most 256 characters")
    return value
