"""What the cache sees of a request: the text to embed and the exact scope it may hit in.

Only the last user turn is embedded. Everything else that can change the answer (the call type,
model, system prompt, earlier turns (in the normalised form of
:mod:`litellm_semcache.conversation`), the last turn's other fields such as ``name``, every
request parameter but the few that cannot change the answer (:mod:`answer_params`), tenant,
namespace) is hashed into ``scope``; a hit requires the same scope, so tenant isolation is a
partition of the key space rather than a filter that a code path could forget to apply.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litellm_semcache.answer_params import canonical, fingerprint
from litellm_semcache.config import WRITER_KINDS
from litellm_semcache.conversation import history_key, normalised, user_turns
from litellm_semcache.errors import InvalidRequest

# Identity fields the LiteLLM proxy writes into metadata (callers cannot forge them there).
TENANT_FIELDS = (
    "user_api_key_hash", "user_api_key", "user_api_key_team_id", "user_api_key_org_id",
    "user_api_key_user_id", "user_api_key_end_user_id",
)
# Which identity field grants which writer name (``writers:`` of a shared category). The end
# user is left out: LiteLLM takes it from the request body's ``user``, which the client chooses.
WRITER_FIELDS = dict(zip(WRITER_KINDS, ("user_api_key_hash", "user_api_key_team_id",
                                         "user_api_key_org_id", "user_api_key_user_id")))
CATEGORY_METADATA_KEY = "semcache_category"
CATEGORY_TAG_PREFIX = "semcache:"
CHAT, TEXT = "chat", "text"  # call types: an answer is only ever served to a call of its type
# Plain prose: no code, markup, quotes or indentation anywhere in the prompt.
_NOT_PROSE = re.compile(r"""[`{}\[\]()<>=;\\/|*#$@~^_"\u201c\u201d\u2018\u2019]|(?:^|\s)'|'(?:\s|$)|\n[ \t]""")
_WORD = re.compile(r"[^\W\d_]+")
_SPACES = re.compile(r"[ \t]+")


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
    writers: frozenset[str]  # the writer names this identity holds (``team:<id>``, ``key:<hash>``)
    model: str | None
    model_group: str | None
    deployment: str | None  # model_info.id or api_base of the routed deployment (proxy/Router)
    explicit_category: str | None
    controls: CacheControls = field(default_factory=CacheControls)
    bypass_reason: str | None = None
    history: tuple[str, ...] = ()  # the user's earlier turns (no small talk), verified
    history_normalized: str = ""

    @property
    def exact_key(self) -> str:
        """Key of the exact fast path and the document id: scope + normalised history and
        prompt."""
        return self.entry_id(shared=False)

    @property
    def embed_text(self) -> str:
        """What is embedded: the prompt, after the user's earlier turns when there are some
        (so that a conversation finds the stored conversation it continues)."""
        return "\n".join((*self.history, self.prompt or ""))

    def scope_for(self, shared: bool) -> str:
        return self.shared_scope if shared else self.scope

    def entry_id(self, shared: bool) -> str:
        if not self.history_normalized:  # as before conversations were verified
            return _digest(self.scope_for(shared), self.normalized)
        return _digest(self.scope_for(shared), self.history_normalized, self.normalized)


def view_request(kwargs: Mapping[str, Any], *, upstream_key: str | None = None,
                 max_prompt_chars: int | None = None) -> RequestView:
    """Build the cache's view of one request from LiteLLM-style kwargs.

    ``upstream_key`` is LiteLLM's own cache key (params + tenant, without the messages under the
    semantic key rules; the LiteLLM backend adds the parameters that key leaves out); when given
    it stands in for the parameters, which LiteLLM's sync path does not pass to the backend.

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
    params = upstream_key if upstream_key is not None else fingerprint(kwargs)
    # LiteLLM's key already carries the namespace ("ns:<hash>"); its sync lookup hides the
    # ``cache`` controls, so adding the namespace again would split lookup and store scopes.
    namespace = "" if upstream_key is not None else controls.namespace or ""
    # The call type and the last turn's other fields are part of every scope; earlier turns
    # enter it in the normalised form of :mod:`litellm_semcache.conversation`.
    history = history_key(context)
    turn = _digest(CHAT if messages else TEXT, canonical(_last_turn_fields(messages)))
    scope = _digest(tenant, namespace, params, history, turn)
    model_group = _str_or_none(metadata.get("model_group")) or _str_or_none(kwargs.get("model"))
    # LiteLLM's key carries the tenant, so a shared scope is built from the request itself
    # (which the sync path now gets whole too: integrations/litellm_backend._WholeRequestCache).
    # The model is the model group's (or its caching group's): its deployments answer alike.
    # A mocked answer (LiteLLM's mock_response) is never shared with a request that asked the model.
    model = _caching_group(metadata, model_group) or model_group
    shared_scope = _digest("shared", controls.namespace or "",
                           fingerprint({**kwargs, "model": model}), history, turn,
                           canonical(kwargs.get("mock_response")))
    normalized = normalize(prompt) if prompt else ""
    earlier = user_turns(context)
    return RequestView(
        prompt=prompt or None,
        normalized=normalized,
        scope=scope,
        shared_scope=shared_scope,
        tenant=tenant,
        writers=_writers(metadata),
        model=_str_or_none(kwargs.get("model")),
        model_group=model_group,
        deployment=_deployment(kwargs, metadata),
        explicit_category=_explicit_category(metadata, kwargs),
        controls=controls,
        bypass_reason=bypass if not prompt else None,
        history=earlier,
        history_normalized="\n".join(normalised(turn) for turn in earlier),
    )


def normalize(text: str) -> str:
    """The exact key's form of a prompt: only what cannot change the answer is folded.

    Surrounding whitespace goes, and canonically equivalent Unicode (NFC: a composed and a
    decomposed "é") is one form. Compatibility folding (NFKC) is not applied: it makes "2⁵"
    equal "25". Inner whitespace stays (indentation is code), and so does case, except in
    plain prose (no code, markup, quotes or indented lines anywhere in the prompt), where runs
    of spaces within a line are one space and a capitalised word is folded ("What" and
    "what"; "iPhone", "JSON" and one-letter words stay).
    A folded key only saves the embedding: the verifier still compares the prompts as written.
    """
    text = unicodedata.normalize("NFC", text).strip()
    if _NOT_PROSE.search(text):
        return text
    return _WORD.sub(_fold_capitalised, _SPACES.sub(" ", text))


def _fold_capitalised(match: re.Match[str]) -> str:
    word = match.group()
    return word.lower() if len(word) > 1 and word[0].isupper() and word[1:].islower() else word


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


def _last_turn_fields(messages: Any) -> dict[str, Any]:
    """The last turn's fields besides role and content (``name`` and any other): they reach
    the model, so they are part of the scope."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], Mapping):
        return {}
    return {str(key): value for key, value in messages[-1].items()
            if key not in ("role", "content") and value is not None}


def _caching_group(metadata: Mapping[str, Any], model_group: str | None) -> str | None:
    """The Router's ``caching_groups`` entry holding ``model_group``: groups whose answers the
    operator declared interchangeable (as LiteLLM's own key treats them)."""
    groups = metadata.get("caching_groups")
    if not model_group or not isinstance(groups, (list, tuple)):
        return None
    for group in groups:
        if isinstance(group, (list, tuple)) and model_group in group:
            return canonical(sorted(str(member) for member in group))
    return None


def _writers(metadata: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(f"{kind}:{metadata[field]}" for kind, field in WRITER_FIELDS.items()
                     if isinstance(metadata.get(field), str) and metadata[field])


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
