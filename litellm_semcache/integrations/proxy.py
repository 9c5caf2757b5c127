"""LiteLLM proxy glue. One line in the proxy YAML enables the cache:

    litellm_settings:
      callbacks: litellm_semcache.proxy_handler

The proxy resolves each ``callbacks`` entry while it loads its config (import the module, read
the attribute); reading ``litellm_semcache.proxy_handler`` installs the cache and returns the
handler below. Installing at config load matters: the proxy decides at start-up whether its
Router reads the cache (``cache_responses = litellm.cache is not None``).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import litellm
import structlog
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.engine.facade import SemanticCache
from litellm_semcache.errors import ConfigError, InvalidRequest
from litellm_semcache.integrations.stream_ends import STREAM_ENDS

log = structlog.get_logger("litellm_semcache")
_handler: "SemcacheProxyHandler | None" = None
_lock = threading.Lock()


def handler() -> "SemcacheProxyHandler":
    """Install the cache once per process (each proxy worker imports this) and return the hook."""
    global _handler
    with _lock:
        if _handler is None:
            import litellm_semcache
            from litellm_semcache.observability import metrics

            try:
                engine = litellm_semcache.install()
            except ConfigError as exc:
                _stop_the_proxy(exc)
                raise
            metrics.expose(engine.recorder.registry, engine.settings.metrics_port,
                           engine.settings.metrics_host)
            _handler = SemcacheProxyHandler(engine)
            _mount_routes(engine)
        return _handler


def _stop_the_proxy(error: ConfigError) -> None:
    """Inside the LiteLLM proxy server: say what is wrong with the policy in a few lines, and
    exit. An exception here would reach the proxy's start-up as hundreds of traceback lines, the
    message last; and a proxy without its configured cache must not start."""
    if "litellm.proxy.proxy_server" not in sys.modules:
        return  # someone else's application: the ConfigError is theirs to handle
    print(f"litellm-semcache: {error}\nThe proxy does not start with an invalid cache policy "
          "(`semcache check-config` shows the policy as it is merged).", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(2)


def _mount_routes(engine: SemanticCache) -> None:
    """``/cache/ping``, ``/cache/delete``, ``/cache/flushall`` and ``/semcache/warm`` on the
    running proxy's app (only inside the LiteLLM proxy server: the SDK has no app)."""
    server = sys.modules.get("litellm.proxy.proxy_server")
    app = getattr(server, "app", None)
    if app is None:
        return
    from litellm_semcache.integrations import admin_routes

    admin_routes.mount(app, engine)


class SemcacheProxyHandler(CustomLogger):
    """Validates per-request cache controls (HTTP 400 on bad values) and adds ``x-semcache-*``
    response headers that say what the cache did and under which policy."""

    def __init__(self, engine: SemanticCache) -> None:
        super().__init__()
        self.engine = engine
        self._backend = getattr(litellm.cache, "cache", None)
        self._warned = False
        self._load_attached = False

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict,
                                  call_type: Any) -> dict:
        self._warn_if_replaced()
        if not self._load_attached:
            self._attach_load_policy()
        try:
            _ttl_from_cache_control(data)
            view = self.engine.validate(data)
        except InvalidRequest as exc:
            raise HTTPException(status_code=400, detail={"error": f"litellm-semcache: {exc}"}) from None
        self.engine.prefetch(view)  # when idle: the embedding overlaps LiteLLM's routing
        return data

    async def async_post_call_failure_hook(self, request_data: dict, original_exception: Any,
                                           user_api_key_dict: Any,
                                           traceback_str: str | None = None) -> None:
        """The request failed after LiteLLM's retries: free its single-flight place. (The
        proxy gives every retry the request's call id, and LiteLLM reports a failure of a call
        id once, after the first attempt.)"""
        failed = getattr(self._backend, "upstream_failed", None)
        if callable(failed) and isinstance(request_data, dict):
            failed(request_data.get("litellm_call_id"))

    async def async_post_call_streaming_deployment_hook(
            self, request_data: dict, response_chunk: object, call_type: object) -> None:
        """Note the upstream's final chunk (the proxy may replace ``litellm.callbacks``, and
        with it the witness ``attach()`` registered)."""
        STREAM_ENDS.saw(request_data, response_chunk)
        return None

    async def async_post_call_response_headers_hook(
        self, data: dict, user_api_key_dict: Any, response: Any, request_headers: Any = None,
        litellm_call_info: Any = None,
    ) -> dict[str, str] | None:
        if _decision_of(data) is None:
            self._record_bypass(data)
        return response_headers(data, response)

    def _record_bypass(self, data: dict) -> None:
        """A request LiteLLM answered without asking the cache (``no-cache``: LiteLLM skips the
        lookup itself; ``caching: false``; a call type the cache does not take) is a bypass:
        counted and logged like the cache's own decisions."""
        controls = data.get("cache")
        no_cache = isinstance(controls, dict) and controls.get("no-cache") is True
        decision = Decision(Outcome.BYPASS, Reason.NO_CACHE if no_cache else Reason.NOT_LOOKED_UP)
        self.engine.record(decision, data)
        metadata = data.get("metadata")
        if isinstance(metadata, dict):
            metadata["semcache"] = decision.as_dict()

    def _attach_load_policy(self) -> None:
        """Follow the proxy's deployments (api_base -> /metrics) once its router exists."""
        self._load_attached = True
        policy = self.engine.load
        if not (policy.settings.enabled and policy.settings.from_proxy_model_list):
            return
        try:
            from litellm.proxy import proxy_server

            router = getattr(proxy_server, "llm_router", None)
            added = policy.add_model_list(getattr(router, "model_list", None) or [])
            policy.start()
            log.info("semcache.load_deployments", added=added)
        except Exception as exc:  # noqa: BLE001 - no load signals = static policy, never an error
            log.warning("semcache.load_attach_failed", error=type(exc).__name__, detail=str(exc)[:200])

    def _warn_if_replaced(self) -> None:
        if self._warned or getattr(litellm.cache, "cache", None) is self._backend:
            return
        self._warned = True
        log.warning(
            "semcache.replaced",
            message="litellm.cache was replaced after litellm-semcache installed it: semantic "
                    "caching is off. Remove `cache: true` from litellm_settings, or list it "
                    "before `callbacks`.",
        )


def _ttl_from_cache_control(data: dict) -> None:
    """``Cache-Control: s-maxage=N`` on the request sets the TTL of the answer stored, as
    LiteLLM's proxy docs say. LiteLLM 1.108.7 means to do it (``data["ttl"]``) but looks the
    header up as ``Cache-Control`` in a dict of lower-cased names, so it never does."""
    request = data.get("proxy_server_request")
    headers = request.get("headers") if isinstance(request, dict) else None
    if not isinstance(headers, dict):
        return
    value = next((v for k, v in headers.items() if str(k).lower() == "cache-control"), None)
    if not isinstance(value, str):
        return
    for directive in value.split(","):
        name, _, seconds = directive.strip().partition("=")
        if name.strip().lower() == "s-maxage":
            try:
                ttl = float(seconds.strip().strip('"'))
            except ValueError:
                ttl = -1.0
            if not ttl >= 0:
                raise InvalidRequest(f"Cache-Control: s-maxage must be a number of seconds >= 0, "
                                     f"got {seconds.strip()!r}")
            data["ttl"] = ttl


def response_headers(data: dict, response: Any) -> dict[str, str]:
    """``x-semcache`` = hit | miss | bypass | shadow-hit, plus the provenance of the decision."""
    decision = _decision_of(data)
    if not decision:
        return {"x-semcache": "bypass", "x-semcache-reason": "not_looked_up"}
    outcome = decision["outcome"]
    hidden = getattr(response, "_hidden_params", None) or {}
    if outcome == "hit" and not hidden.get("cache_hit"):
        outcome, decision = "miss", {**decision, "reason": "refused_by_litellm", "label": None}
    reason = decision.get("label") or decision.get("reason", "")
    if outcome == "miss" and decision.get("shared_candidate"):  # how near another tenant's entry came, and why it was refused, stay in the logs
        reason, decision = "shared_miss", {**decision, "similarity": None}
    headers = {"x-semcache": outcome, "x-semcache-reason": str(reason)}
    for key, header in (("category", "x-semcache-category"),
                        ("threshold", "x-semcache-threshold"),
                        ("ttl_seconds", "x-semcache-ttl"),
                        ("model_group", "x-semcache-model-group"),
                        ("deployment", "x-semcache-deployment")):
        if decision.get(key) is not None:
            headers[header] = str(decision[key])
    if outcome == "hit" and decision.get("entry_id"):
        headers["x-semcache-entry"] = str(decision["entry_id"])  # what /cache/delete takes
    if decision.get("similarity") is not None:
        headers["x-semcache-similarity"] = f"{decision['similarity']:.4f}"
    if decision.get("latency_ms") is not None:
        headers["x-semcache-lookup-ms"] = f"{decision['latency_ms']:.3f}"
    if decision.get("load_state") not in (None, "off"):
        headers["x-semcache-load"] = str(decision["load_state"])
        if decision.get("load_score") is not None:
            headers["x-semcache-load-score"] = f"{decision['load_score']:.3f}"
        headers["x-semcache-relaxed"] = "true" if decision.get("relaxed") else "false"
        if decision.get("verifier_threshold") is not None:
            headers["x-semcache-verifier-threshold"] = str(decision["verifier_threshold"])
    if outcome == "hit" and decision.get("stale"):  # served only because the model is overloaded
        headers["x-semcache-stale"] = "true"
        headers["x-semcache-age"] = str(round(decision.get("age_seconds") or 0))
    return headers


def _decision_of(data: dict) -> dict[str, Any] | None:
    for name in ("metadata", "litellm_metadata"):
        metadata = data.get(name)
        if isinstance(metadata, dict) and isinstance(metadata.get("semcache"), dict):
            return metadata["semcache"]
    return None
