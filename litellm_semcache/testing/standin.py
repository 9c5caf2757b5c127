"""A local OpenAI-compatible stand-in model for tests and demos.

It answers ``/v1/chat/completions`` and ``/v1/completions`` (streaming too) with
``"answer to: <last user prompt>"``, counts calls and can be slowed down, so a test can prove
that a hit never reached the model. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandInModel:
    """``with StandInModel(latency_ms=50) as model: ... model.url, model.calls``"""

    def __init__(self, latency_ms: float = 0.0, port: int = 0) -> None:
        self.latency_ms = latency_ms
        self.fail_streams = False  # True: streams break off with an error event mid-way
        self.fail_requests = False  # True: every request is answered with HTTP 500
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
        with self._lock:
            self.calls += 1
        prompt = _last_prompt(body)
        with self._lock:
            self.prompts.append(prompt)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        return f"answer to: {prompt}"


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
            if model.fail_requests:
                self._json({"error": {"message": "stand-in failure", "type": "server_error"}},
                           status=500)
                return
            chat = self.path.rstrip("/").endswith("/chat/completions")
            if body.get("stream"):
                self._stream(body, text, chat)
            else:
                self._json(_completion(body, text, chat))

        def _json(self, payload: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: dict[str, Any], text: str, chat: bool) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            ident = f"cmpl-{uuid.uuid4().hex[:12]}"
            words = text.split(" ")
            for position, word in enumerate(words):
                if model.fail_streams and position == 2:
                    self._event({"error": {"message": "stand-in failed mid-stream",
                                           "type": "server_error"}})
                    self.close_connection = True
                    return
                piece = word if position == 0 else " " + word
                choice = ({"index": 0, "delta": {"role": "assistant", "content": piece},
                           "finish_reason": None} if chat else
                          {"index": 0, "text": piece, "finish_reason": None})
                self._event({"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                             "created": int(time.time()), "model": body.get("model", "stand-in"),
                             "choices": [choice]})
            final = ({"index": 0, "delta": {}, "finish_reason": "stop"} if chat else
                     {"index": 0, "text": "", "finish_reason": "stop"})
            self._event({"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                         "created": int(time.time()), "model": body.get("model", "stand-in"),
                         "choices": [final]})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

    return Handler


def _completion(body: dict[str, Any], text: str, chat: bool) -> dict[str, Any]:
    usage = {"prompt_tokens": 8, "completion_tokens": len(text.split()),
             "total_tokens": 8 + len(text.split())}
    if chat:
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", "stand-in"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": usage}
    return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion",
            "created": int(time.time()), "model": body.get("model", "stand-in"),
            "choices": [{"index": 0, "finish_reason": "stop", "text": text}], "usage": usage}
