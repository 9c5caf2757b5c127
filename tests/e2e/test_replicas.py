"""Two real LiteLLM proxy processes sharing one Redis-backed cache (issue 5's done-when)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
import urllib.request

import openai
import pytest
import redis

from harness import RedisServer, free_port, litellm_proxy
from proxy_setup import ROOT, metric, proxy_config, wait_for_metric

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
KEY = "sk-tenant-a-0123456789"
REDIS_PASSWORD = f"redis-pw-{secrets.token_hex(8)}"
UPSTREAM_SECRET = "sk-upstream-SECRET-value"


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing although CI=true: run scripts/bootstrap-redis")
        pytest.skip("redis-server is not installed (scripts/bootstrap-redis installs it)")
    with RedisServer(tmp_path_factory.mktemp("redis"), password=REDIS_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, upstream, shared_redis):
    """Replica A and B: two proxy processes, one Redis (with a password)."""
    with contextlib.ExitStack() as stack:
        running = {}
        for name in ("a", "b"):
            workdir = tmp_path_factory.mktemp(f"proxy-{name}")
            config = proxy_config(upstream.url, workdir)
            metrics_port = free_port()
            env = {"SEMCACHE_CONFIG": str(ROOT / "config.example.yaml"),
                   "SEMCACHE_STORE__BACKEND": "redis",
                   "SEMCACHE_STORE__REDIS_URL": shared_redis.url,
                   "SEMCACHE_STORE__REDIS_TIMEOUT_MS": "1000",
                   "SEMCACHE_STORE__PATH": str(workdir / "local"),
                   "SEMCACHE_METRICS_PORT": str(metrics_port),
                   "UPSTREAM_API_KEY": UPSTREAM_SECRET}
            proxy = stack.enter_context(litellm_proxy(config, workdir, env))
            running[name] = {"base": proxy.base_url, "log": proxy.log,
                             "metrics": f"http://127.0.0.1:{metrics_port}/metrics"}
        yield running


def chat(replica, prompt: str):
    client = openai.OpenAI(base_url=f"{replica['base']}/v1", api_key=KEY, max_retries=0, timeout=30)
    raw = client.chat.completions.with_raw_response.create(
        model="chat-small", messages=[{"role": "user", "content": prompt}])
    return raw.parse(), raw.headers


def metrics_text(replica) -> str:
    with urllib.request.urlopen(replica["metrics"], timeout=5) as reply:
        return reply.read().decode()


def test_an_answer_stored_through_replica_a_is_served_by_replica_b(replicas, upstream):
    a, b = replicas["a"], replicas["b"]
    before = metric(a["metrics"], "semcache_stores_total", category="chat")
    held_before = metric(b["metrics"], "semcache_entries", category="chat")
    _, headers = chat(a, "hi, how are you today?")
    assert headers["x-semcache"] == "miss"
    # LiteLLM stores in a background task; then B's follower adopts it (no fixed sleep)
    wait_for_metric(a["metrics"], "semcache_stores_total", before, category="chat")
    calls = upstream.calls
    wait_for_metric(b["metrics"], "semcache_entries", held_before, category="chat")

    reply, headers = chat(b, "hello, how are you doing?")

    assert headers["x-semcache"] == "hit" and headers["x-semcache-category"] == "chat"
    assert reply.choices[0].message.content == "answer to: hi, how are you today?"
    assert upstream.calls == calls


def test_no_secret_reaches_logs_metrics_or_stored_documents(replicas, shared_redis):
    server = redis.Redis.from_url(shared_redis.url)

    def documents() -> bytes:
        return b"".join(server.get(key) or b"" for key in server.scan_iter("{semcache:*}doc:*"))

    before = documents()
    chat(replicas["a"], "Tell me a joke")
    deadline = time.monotonic() + 10
    while documents() == before:  # LiteLLM stores in a background task: wait for the document
        assert time.monotonic() < deadline, "nothing was stored to search for secrets in"
        time.sleep(0.05)
    stored_documents = documents()
    for replica in replicas.values():
        exposed = [replica["log"].read_bytes(), metrics_text(replica).encode(), stored_documents]
        for secret in (REDIS_PASSWORD, UPSTREAM_SECRET, KEY):
            assert not any(secret.encode() in text for text in exposed), secret
