"""The proxy's ``/cache/*`` admin routes for this cache, and ``/semcache/warm``.

LiteLLM 1.108.7 serves ``/cache/ping``, ``/cache/delete`` and ``/cache/flushall`` only for a
``RedisCache`` (our type, ``redis-semantic``, gets ``null``, a 500 and a 503). The proxy hook
puts these routes in front of LiteLLM's, on the same paths, so LiteLLM's admin API and UI reach
them. They need the proxy's master key (or a LiteLLM proxy-admin key): a tenant key must never
flush or delete other tenants' answers.

``/semcache/warm`` stores operator-provided answers through the proxy's own cache path: the
caller's key is authenticated by LiteLLM, the request gets the metadata a real request of that
key gets (tenant, model group), and the Router's call writes the cache through LiteLLM's caching
handler, so a warmed entry lands in exactly the scope later requests of that key look up. The
answer is handed to the Router here, on the server; clients are never granted mock responses.
Answers of a ``shared`` category serve every tenant, so warming one needs an admin key.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from starlette.routing import BaseRoute

from litellm_semcache.engine.decision import Decision, Outcome
from litellm_semcache.engine.facade import SemanticCache
from litellm_semcache.errors import InvalidRequest
from litellm_semcache.integrations.litellm_backend import stored_here

log = structlog.get_logger("litellm_semcache")
MAX_WARM_PAIRS = 1000


@dataclass(frozen=True)
class Caller:
    auth: Any  # LiteLLM's UserAPIKeyAuth, or None for the bare master key
    admin: bool


def mount(app: Any, engine: SemanticCache) -> None:
    """Serve the routes below on ``app`` ahead of LiteLLM's routes on the same paths."""
    router = _router(engine)
    ours: list[BaseRoute] = list(router.routes)
    paths = {getattr(route, "path", None) for route in ours}
    app.router.routes[:] = ours + [route for route in app.router.routes
                                   if getattr(route, "path", None) not in paths]
    log.info("semcache.routes", paths=sorted(p for p in paths if p))


def _router(engine: SemanticCache) -> APIRouter:
    router = APIRouter()

    @router.get("/cache/ping", tags=["caching"])
    async def cache_ping(request: Request) -> dict[str, Any]:
        await _admin(request)
        import litellm
        from litellm.litellm_core_utils.safe_json_dumps import safe_dumps
        from litellm.litellm_core_utils.sensitive_data_masker import SensitiveDataMasker

        healthy = engine.ping()
        if not healthy:
            raise HTTPException(status_code=503, detail="litellm-semcache: the document store "
                                                        "did not answer (see the proxy log)")
        params = SensitiveDataMasker().mask_dict(dict(vars(litellm.cache))) if litellm.cache else {}
        params.pop("cache", None)  # the backend itself, which refers back to the engine
        return {"status": "healthy", "cache_type": str(getattr(litellm.cache, "type", "")),
                "ping_response": True, "set_cache_response": "success",
                "litellm_cache_params": safe_dumps(params),
                "health_check_cache_params": {"backend": "litellm-semcache",
                                              "store": engine.settings.store.backend,
                                              "entries": len(engine)}}

    @router.post("/cache/delete", tags=["caching"])
    async def cache_delete(request: Request) -> dict[str, Any]:
        await _admin(request)
        keys = (await _json(request)).get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise HTTPException(status_code=400, detail='litellm-semcache: expected {"keys": '
                                '[...]}, the x-semcache-entry header values of hits')
        deleted = engine.delete(keys)
        log.info("semcache.deleted", requested=len(keys), deleted=deleted)
        return {"status": "success"}

    @router.post("/cache/flushall", tags=["caching"])
    async def cache_flushall(request: Request) -> dict[str, Any]:
        await _admin(request)
        flushed = engine.flush()
        log.info("semcache.flushed", entries=flushed)
        return {"status": "success"}

    @router.post("/semcache/warm", tags=["caching"])
    async def warm(request: Request) -> dict[str, Any]:
        caller = await _caller(request, identity=True)
        body = await _json(request)
        pairs, model = body.get("pairs"), body.get("model")
        if not isinstance(model, str) or not model:
            raise HTTPException(status_code=400, detail="litellm-semcache: 'model' (a model "
                                                        "group of this proxy) is required")
        if not isinstance(pairs, list) or not 0 < len(pairs) <= MAX_WARM_PAIRS:
            raise HTTPException(status_code=400, detail="litellm-semcache: 'pairs' must be a "
                                f"list of 1 to {MAX_WARM_PAIRS} {{prompt, response}} objects")
        stored = []
        for number, pair in enumerate(pairs, 1):
            stored.append(await _warm_one(engine, request, caller, model, pair, number))
        return {"status": "success", "stored": sum(stored), "pairs": len(pairs)}

    return router


async def _warm_one(engine: SemanticCache, request: Request, caller: Caller, model: str,
                    pair: Any, number: int) -> bool:
    from litellm.proxy import proxy_server
    from litellm.proxy.litellm_pre_call_utils import add_litellm_data_to_request

    if not (isinstance(pair, dict) and isinstance(pair.get("prompt"), str)
            and isinstance(pair.get("response"), str) and pair["prompt"].strip()):
        raise HTTPException(status_code=400, detail=f"litellm-semcache: pair {number}: "
                                                    "expected {\"prompt\": str, \"response\": str}")
    metadata = {"semcache_category": pair["category"]} if pair.get("category") else {}
    data: dict[str, Any] = {"model": model, "metadata": metadata,
                            "messages": [{"role": "user", "content": pair["prompt"]}]}
    if caller.auth is not None:
        data = await add_litellm_data_to_request(
            data=data, request=request, user_api_key_dict=caller.auth,
            proxy_config=proxy_server.proxy_config, general_settings=proxy_server.general_settings,
            version=getattr(proxy_server, "version", None))
    try:
        category, _ = engine.categorize(data)
    except InvalidRequest as exc:
        raise HTTPException(status_code=400, detail=f"litellm-semcache: pair {number}: {exc}") from None
    if engine.settings.policy(category).shared and not caller.admin:
        raise HTTPException(status_code=403, detail=f"litellm-semcache: pair {number}: category "
                            f"{category!r} is shared by every tenant; warming it needs the "
                            "master key")
    router = proxy_server.llm_router
    if router is None:
        raise HTTPException(status_code=503, detail="litellm-semcache: the proxy has no router")
    writes: list[Decision] = []
    token = stored_here.set(writes)
    try:
        # no-cache: skip the lookup (an older answer must not win), store the given one
        await router.acompletion(**data, mock_response=pair["response"],
                                 cache={"no-cache": True})
    except Exception as exc:  # noqa: BLE001 - e.g. no such model group: the caller's mistake
        raise HTTPException(status_code=400, detail=f"litellm-semcache: pair {number}, model "
                            f"{model!r}: {type(exc).__name__}: {str(exc)[:300]}") from None
    finally:
        stored_here.reset(token)
    return await _written(writes)


async def _written(writes: list[Decision], timeout: float = 5.0) -> bool:
    """Wait for LiteLLM's background cache write of the warm call."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not writes and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return bool(writes) and all(w.outcome is Outcome.STORED for w in writes)


async def _admin(request: Request) -> None:
    if not (await _caller(request)).admin:
        raise HTTPException(status_code=403, detail="litellm-semcache: this route needs the "
                                                    "proxy's master key")


async def _caller(request: Request, identity: bool = False) -> Caller:
    """Who is calling: LiteLLM's own authentication of the key (``identity``: its tenant is
    needed, so it is asked first), or the bare master key (e.g. with ``custom_auth``, which
    LiteLLM asks instead of checking the master key)."""
    from litellm.proxy import proxy_server

    header = request.headers.get("authorization") or ""
    token = (request.headers.get("x-litellm-api-key") or header).removeprefix("Bearer ").strip()
    master = proxy_server.master_key
    is_master = isinstance(master, str) and bool(token) and secrets.compare_digest(token, master)
    if is_master and not identity:
        return Caller(None, admin=True)
    auth = await _litellm_auth(request, token)
    if auth is None:
        if is_master:
            return Caller(None, admin=True)
        raise HTTPException(status_code=401, detail="litellm-semcache: invalid or missing API key")
    return Caller(auth, admin=is_master or _is_proxy_admin(auth))


async def _litellm_auth(request: Request, token: str) -> Any:
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth

    try:
        return await user_api_key_auth(
            request=request, api_key=f"Bearer {token}", azure_api_key_header="",
            anthropic_api_key_header=None, google_ai_studio_api_key_header=None,
            azure_apim_header=None, custom_litellm_key_header=None)
    except Exception:  # noqa: BLE001 - any auth failure is a 401, never a traceback
        return None


def _is_proxy_admin(auth: Any) -> bool:
    from litellm.proxy._types import LitellmUserRoles

    role = getattr(auth, "user_role", None)
    return role is not None and str(getattr(role, "value", role)) == LitellmUserRoles.PROXY_ADMIN.value


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="litellm-semcache: the body must be a JSON "
                                                    "object")
    return body
