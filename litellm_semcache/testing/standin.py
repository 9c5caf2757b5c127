"""A local OpenAI-compatible stand-in model for tests and demos.

It answers ``/v1/chat/completions`` and ``/v1/completions`` (streaming too) with
``"answer to: <last user prompt>"`` (with vLLM's ``guided_choice``: its first choice), counts
calls and can be slowed down, so a test can prove that a hit never reached the model. It
listens on 127.0.0.1 only.

It can also misbehave on demand, the way real upstreams do, so a test can prove that a broken
answer is never cached::

    with StandInModel() as model:
        with model.misbehaving(Misbehaviour.TRUNCATED_STREAM):
            ...  # every answer in this block is broken that way

See :class:`Misbehaviour` for what each one sends.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Misbehaviour(str, Enum):
    """Broken or partial answers a real model server sends."""

    TRUNCATED_STREAM = "truncated_stream"  # a stream that stops after two words: no
    #   finish_reason, no [DONE] (a dropped connection); a plain answer is unaffected
    STREAM_ERROR = "stream_error"  # a stream that breaks off with an error event mid-way
    CONTENT_FILTER = "content_filter"  # two words, finish_reason content_filter
    LENGTH = "length"  # two words, finish_reason length (cut off at the token limit)
    TOOL_CALLS = "tool_calls"  # a tool call (get_weather) with null content
    NULL_CONTENT = "null_content"  # finish_reason stop with null content
    ERROR = "error"  # HTTP 500


class StandInModel:
    """``with StandInModel(latency_ms=50) as model: ... model.url, model.calls``

    ``pad_answers_to``: answers are padded with filler words to at least this many characters
    (large answers, e.g. for a store's size limit)."""

    def __init__(self, latency_ms: float = 0.0, port: int = 0, pad_answers_to: int = 0) -> None:
        self.latency_ms = latency_ms
        self.pad_answers_to = pad_answers_to
        self._misbehaviour: Misbehaviour | None = None
        self.calls = 0
        self.prompts: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def misbehaviour(self) -> Misbehaviour | None:
        """How every call is answered while set (a :class:`Misbehaviour` or its name)."""
        return self._misbehaviour

    @misbehaviour.setter
    def misbehaviour(self, how: Misbehaviour | str | None) -> None:
        self._misbehaviour = None if how is None else Misbehaviour(how)

    @property
    def fail_streams(self) -> bool:
        """Shorthand for ``misbehaviour = Misbehaviour.STREAM_ERROR``."""
        return self.misbehaviour is Misbehaviour.STREAM_ERROR

    @fail_streams.setter
    def fail_streams(self, value: bool) -> None:
        self.misbehaviour = Misbehaviour.STREAM_ERROR if value else None

    @contextlib.contextmanager
    def misbehaving(self, how: Misbehaviour | str) -> Iterator["StandInModel"]:
        """Answer every call in the block with ``how``; behave again afterwards."""
        self.misbehaviour = how
        try:
            yield self
        finally:
            self.misbehaviour = None

    def start(self) -> "StandInModel":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "StandInModel":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, body: dict[str, Any]) -> str:
        prompt = _last_prompt(body)
        with self._lock:
            self.calls += 1
            self.prompts.append(prompt)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        choices = body.get("guided_choice")
        if isinstance(choices, list) and choices:  # as vLLM's guided decoding: one of them
            return str(choices[0])
        answer = f"answer to: {prompt}"
        if len(answer) < self.pad_answers_to:
            filler = " filler" * ((self.pad_answers_to - len(answer)) // 7 + 1)
            answer += filler
        return answer


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops connection attempts of a proxy that opens many
    # connections at once; the client then retries after 1, 3, 7 ... seconds.
    request_queue_size = 1024


def _last_prompt(body: dict[str, Any]) -> str:
    if isinstance(body.get("prompt"), str):
        return body["prompt"]
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
    return ""


_TOOL_CALL = {"id": "call_standin", "type": "function",
              "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}


def _shape(text: str, how: Misbehaviour | None) -> tuple[str | None, str, list[dict] | None]:
    """(content, finish_reason, tool_calls) of an answer under ``how``."""
    two_words = " ".join(text.split(" ")[:2])
    if how is Misbehaviour.CONTENT_FILTER:
        return two_words, "content_filter", None
    if how is Misbehaviour.LENGTH:
        return two_words, "length", None
    if how is Misbehaviour.TOOL_CALLS:
        return None, "tool_calls", [_TOOL_CALL]
    if how is Misbehaviour.NULL_CONTENT:
        return None, "stop", None
    return text, "stop", None


def _handler_for(model: StandInModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK (~40 ms on Linux), which would swamp every latency measured here.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path.rstrip("/").endswith("/models"):
                self._json({"object": "list", "data": [{"id": "stand-in", "object": "model"}]})
            else:
                self._json({"status": "ok"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json({"error": {"message": "invalid JSON"}}, status=400)
                return
            text = model._answer(body)
            how = model.misbehaviour
            chat = self.path.rstrip("/").endswith("/chat/completions")
            if how is Misbehaviour.ERROR:
                self._json({"error": {"message": "stand-in failed", "type": "server_error"}},
                           status=500)
            elif body.get("stream"):
                self._stream(body, text, chat, how)
            else:
                self._json(_completion(body, text, chat, how))

        def _json(self, payload: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: dict[str, Any], text: str, chat: bool,
                    how: Misbehaviour | None) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            content, finish, tool_calls = _shape(text, how)
            ident = f"cmpl-{uuid.uuid4().hex[:12]}"
            words = content.split(" ") if content else []
            for position, word in enumerate(words):
                if position == 2 and how in (Misbehaviour.STREAM_ERROR,
                                             Misbehaviour.TRUNCATED_STREAM):
                    if how is Misbehaviour.STREAM_ERROR:
                        self._event({"error": {"message": "stand-in failed mid-stream",
                                               "type": "server_error"}})
                    return  # the connection closes: no finish_reason, no [DONE]
                piece = word if position == 0 else " " + word
                self._chunk(ident, body, chat, {"role": "assistant", "content": piece}, piece, None)
            if tool_calls:
                self._chunk(ident, body, chat, {"role": "assistant", "content": None,
                                         "tool_calls": [{"index": 0, **tool_calls[0]}]}, "", None)
            self._chunk(ident, body, chat, {}, "", finish)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _chunk(self, ident: str, body: dict[str, Any], chat: bool, delta: dict[str, Any],
                   text: str, finish: str | None) -> None:
            choice = ({"index": 0, "delta": delta, "finish_reason": finish} if chat else
                      {"index": 0, "text": text, "finish_reason": finish})
            self._event({"id": ident, "created": int(time.time()),
                         "object": "chat.completion.chunk" if chat else "text_completion",
                         "model": body.get("model", "stand-in"), "choices": [choice]})

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

    return Handler


def _completion(body: dict[str, Any], text: str, chat: bool,
                how: Misbehaviour | None) -> dict[str, Any]:
    content, finish, tool_calls = _shape(text, how)
    tokens = len((content or "").split())
    usage = {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens}
    if chat:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", "stand-in"),
                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                "usage": usage}
    return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion",
            "created": int(time.time()), "model": body.get("model", "stand-in"),
            "choices": [{"index": 0, "finish_reason": finish, "text": content or ""}],
            "usage": usage}
