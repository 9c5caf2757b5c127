"""Which streamed answers really ended.

LiteLLM assembles a stream that was cut off (the upstream closed it without a
``finish_reason`` and without ``[DONE]``) into an answer marked ``finish_reason: "stop"``,
byte for byte like a complete one, and hands it to the cache. Only its stream wrapper knows
the difference, and it shows it in one place: the upstream's own final chunk (the one that
carries a ``finish_reason``) passes through
``CustomLogger.async_post_call_streaming_deployment_hook``; the ``stop`` LiteLLM makes up at a
cut-off never does. So a stream counts as ended when that hook saw a chunk with a finish
reason for its call (``litellm_call_id``), and the backend stores no other stream.

An answer LiteLLM mocks (``mock_response``) is complete by construction (LiteLLM's mock stream
sends no finish reason at all). Streams of LiteLLM's synchronous path pass no hook, so they
cannot be told apart and are not stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from litellm_semcache.bounded import RecentSet

_LIMIT = 8192  # calls remembered; a store follows its stream's end within milliseconds


class StreamEnds:
    """Call ids whose upstream stream ended with a finish reason. Bounded, thread-safe."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._ended = RecentSet(limit)

    def saw(self, request_data: Any, chunk: Any) -> None:
        """Note ``chunk`` of the call ``request_data`` describes, if it ends the stream."""
        call_id = request_data.get("litellm_call_id") if isinstance(request_data, Mapping) else None
        if isinstance(call_id, str) and _finishes(chunk):
            self._ended.add(call_id)

    def ended(self, call_id: Any) -> bool:
        return isinstance(call_id, str) and call_id in self._ended


def _finishes(chunk: Any) -> bool:
    choices = getattr(chunk, "choices", None) or []
    return any(getattr(choice, "finish_reason", None) for choice in choices)


def unfinished_stream(request: Mapping[str, Any], ends: StreamEnds) -> str | None:
    """Why the streamed answer of ``request`` must not be stored, or None (not a stream, or
    one that ended)."""
    if request.get("stream") is not True or request.get("mock_response") is not None:
        return None
    return None if ends.ended(request.get("litellm_call_id")) else "stream_cut_off"


class StreamEndWitness(CustomLogger):
    """The LiteLLM callback that feeds :data:`STREAM_ENDS` (``attach()`` registers it; the
    proxy handler does the same job in the proxy)."""

    async def async_post_call_streaming_deployment_hook(
            self, request_data: dict, response_chunk: object, call_type: object) -> None:
        STREAM_ENDS.saw(request_data, response_chunk)
        return None


STREAM_ENDS = StreamEnds()  # one per process: call ids are unique, installs may repeat
WITNESS = StreamEndWitness()
