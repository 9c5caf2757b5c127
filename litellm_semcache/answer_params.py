"""Which request parameters can change the answer: all of them, except a named few.

The scope of an entry must hold every parameter that can change what the model says: sampling
(``temperature``, ``top_k``), decoding constraints a server accepts as extra fields
(``guided_choice``, ``guided_regex``, ``min_tokens``, ...), tools, formats, and parameters no
one has invented yet. A deny-list of "known answer parameters" misses the ones it does not
know, and then one request's answer is served to another request that asked for something
else (in a shared category: a tenant picks the text other tenants get). So this is an
allow-list of the parameters that cannot change the answer, and everything else is in the
scope.

What is allowed out: the prompt itself (it has its own part of the key), identity and metadata
(the tenant has its own part), cache controls, transport, authentication, retries, timeouts,
tracing ids, pricing, and LiteLLM's own bookkeeping. A parameter missing here costs hits (its
value splits the scope), never a wrong answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# Parameters that cannot change the answer (or have their own part of the key).
NEUTRAL_PARAMS = frozenset({
    # the prompt and the request's identity: their own parts of the key
    "messages", "prompt", "input", "metadata", "litellm_metadata", "user", "tags",
    # LiteLLM's stand-in for the model in tests (its own key leaves it out too; a shared scope
    # keeps it: see request.view_request)
    "mock_response",
    # cache controls (LiteLLM's and ours) and the call type (its own part of the key)
    "cache", "caching", "cache_key", "preset_cache_key", "ttl", "no-log",
    "acompletion", "atext_completion", "text_completion", "async_call",
    # routing within a model group: the model group is in the key, the deployment is not
    "model_info", "api_base", "base_url", "api_key", "litellm_credential_name",
    # transport, retries and timeouts
    "timeout", "request_timeout", "stream_timeout", "max_retries", "num_retries", "client",
    "shared_session", "keepalive_seconds", "allow_client_keepalive_override", "mock_timeout",
    # usage reporting in a stream (the answer is the same; LiteLLM adds it after the lookup)
    "stream_options", "_litellm_strip_stream_usage",
    # tracing, logging and LiteLLM's request bookkeeping
    "litellm_call_id", "litellm_trace_id", "litellm_session_id", "parent_otel_span",
    "litellm_logging_obj", "litellm_request_debug", "logger_fn", "verbose",
    "litellm_disabled_callbacks", "turn_off_message_logging", "proxy_server_request",
    "secret_fields", "use_in_pass_through", "use_litellm_proxy", "use_xai_oauth",
    "_context_compaction_state",
})
# Pricing overrides (``input_cost_per_token``, ``cost_per_query``, ...) change the bill only.
_PRICING = re.compile(r"(^|_)cost(_|$)")


def answer_params(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request's parameters that can change the answer (None values left out)."""
    return {name: value for name, value in kwargs.items()
            if value is not None and isinstance(name, str) and not neutral(name)}


def neutral(name: str) -> bool:
    """True for a parameter that cannot change the answer."""
    return name in NEUTRAL_PARAMS or bool(_PRICING.search(name))


def fingerprint(kwargs: Mapping[str, Any]) -> str:
    """Canonical JSON of :func:`answer_params`: equal exactly when those parameters are."""
    return canonical(answer_params(kwargs))


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
