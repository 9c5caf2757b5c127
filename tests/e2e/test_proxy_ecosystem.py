"""The conventions around the cache, through a real ``litellm --config`` proxy: a lean runtime
(torch cannot even be imported in this proxy), a policy file that overlays the shipped one,
``semcache warm --proxy`` for a key's tenant, decision logs that carry LiteLLM's call id,
counters that equal what clients got, and clear errors instead of tracebacks at start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from proxy_setup import ROOT, proxy_config

from harness import free_port, litellm_proxy
from litellm_semcache.testing import StandInModel

pytestmark = pytest.mark.e2e
KEY_A, KEY_B = "sk-tenant-a-0123456789", "sk-tenant-b-0123456789"
BLOCKED = ("torch", "sentence_transformers", "transformers")
POLICY = """\
# only what differs from the shipped policy
categories:
  code:
    similarity_threshold: 0.95
  finance:
    shared: true
remove_categories: [legal]
"""


def semcache_cli() -> str:
    binary = shutil.which("semcache", path=str(Path(sys.executable).parent))
    assert binary, "the semcache console script is installed with the package"
    return binary


def block_imports(directory: Path) -> Path:
    """Packages that raise on import, first on the proxy's path: the proxy must run without."""
    for name in BLOCKED:
        (directory / name).mkdir(parents=True, exist_ok=True)
        (directory / name / "__init__.py").write_text(
            f"raise ImportError('{name} is blocked: the proxy must not need it')\n")
    return directory


def proxy_env(workdir: Path, **extra: str) -> dict[str, str]:
    blocked = block_imports(workdir / "blocked")
    return {"SEMCACHE_CONFIG": str(workdir / "semcache.yaml"),
            "SEMCACHE_STORE__PATH": str(workdir / "store"),
            "SEMCACHE_LOG_LEVEL": "debug", "SEMCACHE_LOG_SUMMARY_SECONDS": "0.5",
            "SEMCACHE_SINGLE_FLIGHT_WAIT_MS": "200", "UPSTREAM_API_KEY": "sk-upstream-x",
            "PYTHONPATH": os.pathsep.join([str(blocked), str(ROOT),
                                           os.environ.get("PYTHONPATH", "")]), **extra}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """One proxy (torch blocked, the overlay policy, debug logs) and its counting upstream."""
    workdir = tmp_path_factory.mktemp("ecosystem")
    (workdir / "semcache.yaml").write_text(POLICY)
    metrics_port = free_port()
    with StandInModel() as model:
        config = proxy_config(model.url, workdir)
        env = proxy_env(workdir, SEMCACHE_METRICS_PORT=str(metrics_port))
        with litellm_proxy(config, workdir, env) as running:
            yield {"base": running.base_url, "upstream": model, "log": running.log,
                   "metrics": f"http://127.0.0.1:{metrics_port}/metrics",
                   "startup": running.log.read_text(errors="replace")}


@pytest.fixture
def upstream(proxy):
    return proxy["upstream"]


def chat(proxy, prompt: str, key: str = KEY_A, **body) -> httpx.Response:
    reply = httpx.post(f"{proxy['base']}/v1/chat/completions", timeout=30,
                       headers={"Authorization": f"Bearer {key}"},
                       json={"model": "chat-small",
                             "messages": [{"role": "user", "content": prompt}], **body})
    reply.raise_for_status()
    return reply


def metric(proxy, name: str, category: str) -> float | None:
    for line in httpx.get(proxy["metrics"], timeout=5).text.splitlines():
        if line.startswith(f'{name}{{category="{category}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def total(proxy, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1])
               for line in httpx.get(proxy["metrics"], timeout=5).text.splitlines()
               if line.startswith(f"{name}{{"))


def chat_and_store(proxy, prompt: str, key: str = KEY_A, **body) -> httpx.Response:
    stores = total(proxy, "semcache_stores_total")
    reply = chat(proxy, prompt, key, **body)
    deadline = time.monotonic() + 10
    while total(proxy, "semcache_stores_total") <= stores:
        assert time.monotonic() < deadline, "the answer was never stored"
        time.sleep(0.05)
    time.sleep(0.3)  # past the single-flight window: the next request does its own lookup
    return reply


def log_events(proxy) -> list[dict]:
    events = []
    for line in proxy["log"].read_text(errors="replace").splitlines():
        if line.startswith("{") and '"event"' in line:
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return events


# ---------------------------------------------------------------- lean runtime, policy overlay

def test_the_proxy_serves_semantic_hits_without_torch(proxy, upstream):
    chat_and_store(proxy, "Hi, how are you doing today?")
    before = upstream.calls
    paraphrase = chat(proxy, "hi, how are you today?")

    assert paraphrase.headers["x-semcache"] == "hit" and upstream.calls == before
    log = proxy["log"].read_text(errors="replace")
    assert "blocked" not in log  # nothing tried to import torch, transformers, s-t


def test_a_partial_policy_file_overlays_the_shipped_policy(proxy):
    chat(proxy, "How do I reverse a list in Python?")
    # every category of the merged policy is exported from the start, at zero if unused
    assert metric(proxy, "semcache_lookups_total", "medical") == 0.0
    assert metric(proxy, "semcache_lookups_total", "docs") == 0.0
    assert metric(proxy, "semcache_lookups_total", "legal") is None  # removed by the file
    code = chat(proxy, "Write a function that checks whether a string is a palindrome")
    assert code.headers["x-semcache-category"] == "code"
    assert code.headers["x-semcache-threshold"] == "0.95"  # the file's value
    assert code.headers["x-semcache-ttl"] == "86400"  # the shipped value it kept


def test_the_first_start_prints_no_library_warnings_or_tracebacks(proxy):
    log = proxy["startup"]  # a fresh store and model cache: what an operator sees first
    assert "LiteLLM: Proxy initialized" in log
    for noise in ("Traceback", "Warning:", "pre-processing", "it/s]", "Loading weights"):
        assert noise not in log, noise


# ---------------------------------------------------------------- TTL, counters

def test_a_hit_reports_the_ttl_it_was_stored_with(proxy):
    chat_and_store(proxy, "Tell me a joke about lighthouses", cache={"ttl": 5})
    hit = chat(proxy, "Tell me a joke about lighthouses")

    assert hit.headers["x-semcache"] == "hit" and hit.headers["x-semcache-ttl"] == "5"
    assert len(hit.headers["x-semcache-entry"]) == 32


def test_hits_count_what_clients_received(proxy, upstream):
    chat_and_store(proxy, "Tell me a joke about accordions")
    hits = total(proxy, "semcache_hits_total")
    misses = total(proxy, "semcache_misses_total")

    refused = chat(proxy, "Tell me a joke about accordions", cache={"s-maxage": 0})
    served = chat(proxy, "Tell me a joke about accordions")

    assert refused.headers["x-semcache"] == "miss" and served.headers["x-semcache"] == "hit"
    assert total(proxy, "semcache_hits_total") == hits + 1
    assert total(proxy, "semcache_misses_total") == misses + 1


def test_a_request_litellm_does_not_look_up_is_a_counted_bypass(proxy, upstream):
    bypasses = total(proxy, "semcache_bypasses_total")
    before = upstream.calls

    reply = chat(proxy, "Tell me a joke about bagpipes", cache={"no-cache": True})

    assert reply.headers["x-semcache"] == "bypass"
    assert reply.headers["x-semcache-reason"] == "no-cache"
    assert upstream.calls == before + 1
    assert total(proxy, "semcache_bypasses_total") == bypasses + 1


# ---------------------------------------------------------------- logs

def test_each_decision_is_logged_with_litellms_call_id_and_summed_up(proxy):
    reply = chat(proxy, "Tell me a joke about tubas")
    call_id = reply.headers["x-litellm-call-id"]
    time.sleep(0.6)
    chat(proxy, "Tell me a joke about oboes")  # the first decision after the interval sums up
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = log_events(proxy)
        decisions = [e for e in events if e.get("event") == "semcache.decision"
                     and e.get("call_id") == call_id]
        summaries = [e for e in events if e.get("event") == "semcache.summary"]
        if decisions and summaries:
            break
        time.sleep(0.1)
    assert decisions and decisions[0]["level"] == "debug" and decisions[0]["outcome"] == "miss"
    assert summaries and summaries[-1]["level"] == "info" and summaries[-1]["requests"] >= 1
    assert "Tell me a joke" not in proxy["log"].read_text(errors="replace")  # no prompts


# ---------------------------------------------------------------- semcache warm --proxy

def warm(proxy, tmp_path, pairs: list[dict], key: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in pairs) + "\n")
    return subprocess.run([semcache_cli(), "warm", str(path), "--proxy", proxy["base"],
                           "--api-key", key, "--model", "chat-small", *extra],
                          capture_output=True, text=True, timeout=120, check=False)


def test_warm_through_the_proxy_serves_that_keys_tenant_only(proxy, upstream, tmp_path):
    pairs = [{"prompt": "Can you recommend a good book about whales?",
              "response": "Moby-Dick, by Herman Melville."},
             {"prompt": "Tell me a joke about sloths", "response": "A curated sloth joke."}]
    result = warm(proxy, tmp_path, pairs, KEY_A)
    before = upstream.calls

    mine = chat(proxy, "Can you recommend a good book about whales?", KEY_A)
    theirs = chat(proxy, "Can you recommend a good book about whales?", KEY_B)

    assert result.returncode == 0, result.stderr
    assert "stored 2 of 2" in result.stdout
    assert mine.headers["x-semcache"] == "hit"
    assert mine.json()["choices"][0]["message"]["content"] == "Moby-Dick, by Herman Melville."
    assert theirs.headers["x-semcache"] == "miss"  # another tenant: not warmed for it
    assert upstream.calls == before + 1


def test_warm_refuses_a_shared_category_to_a_tenant_key(proxy, tmp_path):
    result = warm(proxy, tmp_path, [{"prompt": "What is the price of Apple stock?",
                                     "response": "Buy now!", "category": "finance"}], KEY_A)

    assert result.returncode == 2
    assert "shared by every tenant" in result.stderr and "Traceback" not in result.stderr
    assert chat(proxy, "What is the price of Apple stock?", KEY_B).headers["x-semcache"] == "miss"


def test_warm_errors_are_one_clear_line(proxy, tmp_path):
    pair = [{"prompt": "Tell me a joke about yaks", "response": "A yak joke."}]
    unknown_model = warm(proxy, tmp_path, pair, KEY_A, "--model", "no-such-group")
    bad_key = warm(proxy, tmp_path, pair, "sk-not-a-key")

    for result in (unknown_model, bad_key):
        assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no-such-group" in unknown_model.stderr
    assert "HTTP 401" in bad_key.stderr


# ---------------------------------------------------------------- errors at start-up

@pytest.mark.parametrize("variable, value, message", [
    ("SEMCACHE_METRICS_PROT", "9999", ("SEMCACHE_METRICS_PROT: not a litellm-semcache setting "
                                      "(did you mean SEMCACHE_METRICS_PORT?)")),
    ("SEMCACHE_CATEGORIES__CHAT__SIMILARITY_THRESHOLD", "1.5",
     "SEMCACHE_CATEGORIES__CHAT__SIMILARITY_THRESHOLD (categories.chat.similarity_threshold)"),
    ("SEMCACHE_CATEGORIES__FINANCEE__TTL_SECONDS", "60", "no category 'financee' (did you mean"),
])
def test_a_bad_policy_stops_the_proxy_with_a_clear_message(tmp_path, variable, value, message):
    (tmp_path / "semcache.yaml").write_text(POLICY)
    config = proxy_config("http://127.0.0.1:9/v1", tmp_path)
    env = proxy_env(tmp_path, **{variable: value})
    with pytest.raises(RuntimeError, match="exited"), litellm_proxy(config, tmp_path, env,
                                                                    start_timeout=90):
        pass
    log = (tmp_path / "proxy.log").read_text(errors="replace")
    assert message in log
    assert "Traceback" not in log
