"""Is an upstream answer complete enough to keep? A broken answer stored once is replayed to
every identical request for the whole TTL, so the write path asks this before it stores.

Only OpenAI-shaped answers (``choices``) are judged; any other value a direct caller stores is
its own business. Every choice must have ended on its own (``finish_reason`` ``stop``, or none
said in an answer that arrived whole) with text in it. Cut off at the token limit (``length``)
or calling tools (``tool_calls``) is stored only where the category allows it; a content
filter, null or empty content, or any other finish reason never is. A stream is judged by its
caller (the LiteLLM backend), which alone can tell a stream that ended from one that was cut
off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from litellm_semcache.config import CategoryPolicy

_TOOL_FINISHES = ("tool_calls", "function_call")


def incomplete(response: Any, policy: CategoryPolicy) -> str | None:
    """Why ``response`` must not be stored, or None to store it."""
    answer = _openai_answer(response)
    if answer is None:
        return None
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no_choices"
    for choice in choices:
        reason = _choice_problem(choice, policy)
        if reason:
            return reason
    return None


def _choice_problem(choice: Any, policy: CategoryPolicy) -> str | None:
    if not isinstance(choice, Mapping):
        return "malformed_choice"
    finish = choice.get("finish_reason")
    message = choice.get("message")
    calls_tools = isinstance(message, Mapping) and bool(
        message.get("tool_calls") or message.get("function_call"))
    if finish in _TOOL_FINISHES or calls_tools:
        return None if policy.store_tool_calls and calls_tools else "tool_calls"
    if finish == "length":
        if not policy.store_length_limited:
            return "length"
    elif finish not in ("stop", None):  # None: an answer that arrived whole, reason unsaid
        return f"finish_{finish}"
    text = message.get("content") if isinstance(message, Mapping) else choice.get("text")
    if not isinstance(text, str) or not text.strip():
        return "no_content"
    return None


def _openai_answer(response: Any) -> Mapping[str, Any] | None:
    """The chat or text completion inside ``response`` (LiteLLM stores ``{"timestamp",
    "response": <JSON text or dict>}``), or None when it is not one."""
    if isinstance(response, Mapping) and "choices" not in response and "response" in response:
        response = response["response"]
    if isinstance(response, (str, bytes)):
        try:
            response = orjson.loads(response)
        except orjson.JSONDecodeError:
            return None
    return response if isinstance(response, Mapping) and "choices" in response else None
