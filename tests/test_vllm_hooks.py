"""vllm_hooks without vLLM: the /metrics parser on a real capture, the scraper against a real
local HTTP server, the push path over a real UDP socket, the board's staleness rules, and the
plugin class against a duck-typed stand-in for vLLM's StatLoggerBase."""

from __future__ import annotations

import http.server
import importlib
import re
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import FakeClock, wait_for

from vllm_hooks import LoadBoard, LoadSnapshot, MetricsScraper, PushReceiver, ScrapeTarget
from vllm_hooks.exporter import PushPublisher, StepRecorder, parse_target
from vllm_hooks.scraper import histogram_quantile, parse_metrics, prefilter, to_snapshots

FIXTURE = (Path(__file__).parent / "fixtures" / "vllm-metrics-sample.prom").read_text()


def under_load(text: str = FIXTURE, *, running: float = 2, waiting: float = 10, kv: float = 0.909,
               preemptions: float = 39) -> str:
    """The fixture with its gauges/counters edited to a loaded state."""
    for name, value in (("vllm:num_requests_running", running),
                        ("vllm:num_requests_waiting", waiting),
                        ("vllm:kv_cache_usage_perc", kv),
                        ("vllm:gpu_cache_usage_perc", kv),
                        ("vllm:num_preemptions_total", preemptions)):
        text = re.sub(rf'^({re.escape(name)}{{engine="0",model_name="tiny"}}) \S+$',
                      rf"\g<1> {value}", text, flags=re.M)
    return text


# ---------------------------------------------------------------------------- parser


def test_fixture_parses_gauges_and_counters():
    engine = parse_metrics(FIXTURE)[0]
    assert engine.first(("vllm:num_requests_running",)) == 0.0
    assert engine.first(("vllm:kv_cache_usage_perc",)) == 0.0
    assert engine.first(("vllm:num_preemptions_total",)) == 39.0
    assert engine.ttft_count == 24 and engine.ttft_sum == pytest.approx(29.2897, abs=1e-3)
    assert not any(name.endswith("_created") for name in engine.values)


def test_prefilter_drops_unrelated_families_and_created_companions_are_ignored():
    kept = prefilter(FIXTURE)
    assert "process_" not in kept and "vllm:e2e_request_latency" not in kept
    assert len(kept) < len(FIXTURE) / 3
    assert parse_metrics(kept)[0].values == parse_metrics(FIXTURE)[0].values


def test_missing_metric_is_none_not_zero():
    body = "\n".join(line for line in FIXTURE.splitlines() if "kv_cache_usage" not in line)
    snapshot = to_snapshots("d", parse_metrics(body), {}, 1.0, 1.0, 1, None)[0]
    assert snapshot.kv_usage is None
    assert snapshot.running == 0.0


def test_old_kv_metric_name_is_read_and_the_current_one_wins():
    old = FIXTURE.replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    old = under_load(old, kv=0.5)
    assert to_snapshots("d", parse_metrics(old), {}, 1, 1, 1, None)[0].kv_usage == 0.5
    both = under_load(kv=0.9) + 'vllm:gpu_cache_usage_perc{engine="0",model_name="tiny"} 0.1\n'
    assert to_snapshots("d", parse_metrics(both), {}, 1, 1, 1, None)[0].kv_usage == 0.9


def test_counters_become_deltas_and_rates_between_scrapes():
    previous: dict = {}
    first = to_snapshots("d", parse_metrics(under_load(preemptions=39)), previous, 10.0, 0, 1, None)
    assert first[0].preemptions_delta is None  # no baseline yet: unknown, not zero
    second = to_snapshots("d", parse_metrics(under_load(preemptions=45)), previous, 12.0, 0, 2, None)
    assert second[0].preemptions_delta == 6 and second[0].preemption_rate == pytest.approx(3.0)
    assert second[0].waiting == 10 and second[0].kv_usage == pytest.approx(0.909)


def test_ttft_percentile_comes_from_histogram_deltas():
    assert histogram_quantile(0.5, {0.1: 0, 0.5: 10, 1.0: 20, float("inf"): 20}) == pytest.approx(0.5)
    assert histogram_quantile(0.5, {0.1: 0, float("inf"): 0}) is None
    previous: dict = {}
    to_snapshots("d", parse_metrics(ttft_body(10, 10, 10, 0.5)), previous, 1, 0, 1, None)
    later = to_snapshots("d", parse_metrics(ttft_body(10, 20, 20, 3.5)), previous, 2, 0, 2, None)[0]
    # the 10 new first tokens all fell in (0.1, 0.5]: mean 0.3, interpolated median 0.3
    assert later.ttft_mean == pytest.approx(0.3) and later.ttft_p50 == pytest.approx(0.3)
    assert later.running is None  # a body without the gauge: missing, not zero


def ttft_body(le_01: float, le_05: float, total: float, seconds: float) -> str:
    name, labels = "vllm:time_to_first_token_seconds", 'engine="0",model_name="tiny"'
    return "\n".join([f"# TYPE {name} histogram",
                      f'{name}_bucket{{{labels},le="0.1"}} {le_01}',
                      f'{name}_bucket{{{labels},le="0.5"}} {le_05}',
                      f'{name}_bucket{{{labels},le="+Inf"}} {total}',
                      f"{name}_count{{{labels}}} {total}", f"{name}_sum{{{labels}}} {seconds}", ""])


def test_model_name_filter():
    assert parse_metrics(FIXTURE, "other") == {}
    assert 0 in parse_metrics(FIXTURE, "tiny")


# ---------------------------------------------------------------------------- scraper


class _MetricsServer:
    """A real HTTP server on 127.0.0.1 that serves whatever body the test sets."""

    def __init__(self) -> None:
        self.body, self.delay = FIXTURE, 0.0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                time.sleep(owner.delay)
                data = owner.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda *args: None  # the timeout test hangs up on purpose
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def metrics_server():
    server = _MetricsServer()
    yield server
    server.close()


def test_scraper_thread_publishes_to_the_board_and_follows_the_server(metrics_server):
    board = LoadBoard(stale_after=2.0)
    scraper = MetricsScraper([ScrapeTarget("vllm-a", metrics_server.url)], board, interval=0.05)
    scraper.start()
    try:
        assert wait_for(lambda: board.get("vllm-a") is not None)
        assert board.get("vllm-a").waiting == 0.0
        metrics_server.body = under_load(waiting=7, kv=0.95, preemptions=50)
        assert wait_for(lambda: (board.get("vllm-a").waiting or 0) == 7)
        loaded = board.get("vllm-a")
        assert loaded.kv_usage == pytest.approx(0.95) and loaded.source == "pull"
        assert wait_for(lambda: board.get("vllm-a").preemptions_delta == 0)  # counter stopped
    finally:
        scraper.close()
    assert scraper.failures == 0 and scraper.scrapes >= 3


def test_scrape_failures_and_timeouts_publish_nothing(metrics_server):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/metrics"
    closed.close()
    metrics_server.delay = 0.5
    board = LoadBoard()
    scraper = MetricsScraper([ScrapeTarget("dead", dead_url), ScrapeTarget("slow", metrics_server.url)],
                             board, interval=0.1, timeout=0.1)
    started = time.monotonic()
    assert scraper.scrape_once() == []
    assert time.monotonic() - started < 0.45  # the slow target was cut at its timeout
    assert scraper.failures == 2
    assert board.get("dead") is None and board.get("slow") is None


# ---------------------------------------------------------------------------- board


def test_board_signals_go_stale_to_unknown():
    clock = FakeClock(100.0)
    board = LoadBoard(stale_after=1.0, clock=clock)
    board.update(LoadSnapshot("a", waiting=9, kv_usage=1.0))
    assert board.get("a").waiting == 9
    clock.advance(1.5)
    assert board.get("a") is None  # silence never reads as "overloaded forever"


def test_board_drops_reordered_datagrams_and_aggregates_engines():
    board = LoadBoard()
    board.update(LoadSnapshot("a", engine=0, waiting=5, seq=2, sent_at=2.0, pid=1))
    assert not board.update(LoadSnapshot("a", engine=0, waiting=1, seq=1, sent_at=1.0, pid=1))
    assert board.get("a").waiting == 5
    board.update(LoadSnapshot("a", engine=1, waiting=3, kv_usage=0.4, seq=1, sent_at=1.0, pid=1))
    board.update(LoadSnapshot("a", engine=0, waiting=4, kv_usage=0.9, seq=3, sent_at=3.0, pid=1))
    combined = board.get("a")
    assert combined.waiting == 7 and combined.kv_usage == 0.9
    # another API-server process for the same engine: latest wins, never summed
    board.update(LoadSnapshot("a", engine=0, waiting=2, seq=1, sent_at=4.0, pid=2))
    assert board.get("a").waiting == 5


# ---------------------------------------------------------------------------- push


def stats(running=0, waiting=0, kv=0.0, preempted=0, ttfts=()):
    return (SimpleNamespace(num_running_reqs=running, num_waiting_reqs=waiting, kv_cache_usage=kv),
            SimpleNamespace(num_preempted_reqs=preempted, time_to_first_tokens_iter=list(ttfts)))


def test_recorder_copies_numbers_and_never_raises():
    recorder = StepRecorder()
    recorder.record(*stats(running=2, waiting=10, kv=0.9, preempted=3, ttfts=[0.2, 0.4]))
    assert (recorder.running, recorder.waiting, recorder.kv_usage) == (2, 10, 0.9)
    assert recorder.preempted_total == 3 and list(recorder.ttfts) == [0.2, 0.4]

    class Broken:
        @property
        def num_running_reqs(self):
            raise RuntimeError("stats API changed")

    recorder.record(Broken(), None)  # must not raise into vLLM's output handler
    assert recorder.errors == 1
    old_style = SimpleNamespace(num_running_reqs=1, num_waiting_reqs=0, gpu_cache_usage=0.3)
    recorder.record(old_style, None)
    assert recorder.kv_usage == 0.3


def test_push_reaches_the_receiver_with_rate_and_heartbeat():
    board = LoadBoard(stale_after=5.0)
    receiver = PushReceiver(board).start()
    publisher = PushPublisher("vllm-a", receiver.address, rate_hz=50)
    try:
        recorder = publisher.recorder(0)
        recorder.record(*stats(running=2, waiting=10, kv=1.0, preempted=4, ttfts=[0.1, 0.3, 0.5]))
        sent = publisher.publish_once(now=10.0)
        assert sent and not sent[0].heartbeat
        assert wait_for(lambda: board.get("vllm-a") is not None)
        got = board.get("vllm-a")
        assert (got.waiting, got.kv_usage, got.ttft_p50, got.source) == (10, 1.0, 0.3, "push")
        assert publisher.publish_once(now=10.5) == []  # idle, heartbeat not due yet
        beat = publisher.publish_once(now=11.1)
        assert beat and beat[0].heartbeat and beat[0].preemptions_delta == 0
        recorder.record(*stats(preempted=2))
        assert publisher.publish_once(now=11.6)[0].preemption_rate == pytest.approx(4.0)
        assert wait_for(lambda: receiver.received >= 3)
    finally:
        publisher.close()
        receiver.close()


def test_receiver_rejects_garbage():
    board = LoadBoard()
    receiver = PushReceiver(board).start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for junk in (b"not json", b'{"deployment": 3}', b'{"deployment":"a","waiting":"NaN"}',
                         b"x" * 2000):
                sender.sendto(junk, receiver.address)
            sender.sendto(LoadSnapshot("ok", waiting=1).to_bytes(), receiver.address)
        assert wait_for(lambda: board.get("ok") is not None)
        assert receiver.rejected == 4
    finally:
        receiver.close()


def test_parse_target():
    assert parse_target("127.0.0.1:9100") == ("127.0.0.1", 9100)
    with pytest.raises(ValueError, match="host:port"):
        parse_target("nonsense")


# ---------------------------------------------------------------------------- plugin


def test_vllm_hooks_imports_without_vllm():
    code = "import sys, vllm_hooks, vllm_hooks.exporter; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


@pytest.fixture
def fake_vllm(monkeypatch):
    """Duck-typed stand-in for vLLM's StatLoggerBase, so the adapter is tested without vLLM."""
    from abc import ABC, abstractmethod

    class StatLoggerBase(ABC):
        @abstractmethod
        def __init__(self, vllm_config, engine_index: int = 0): ...

        @abstractmethod
        def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx=0): ...

        @abstractmethod
        def log_engine_initialized(self): ...

    for name in ("vllm", "vllm.v1", "vllm.v1.metrics"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    loggers = types.ModuleType("vllm.v1.metrics.loggers")
    loggers.StatLoggerBase = StatLoggerBase
    monkeypatch.setitem(sys.modules, "vllm.v1.metrics.loggers", loggers)
    monkeypatch.delitem(sys.modules, "vllm_hooks.vllm_plugin", raising=False)
    yield StatLoggerBase
    sys.modules.pop("vllm_hooks.vllm_plugin", None)


def test_plugin_pushes_with_the_served_name(fake_vllm, monkeypatch):
    board = LoadBoard()
    receiver = PushReceiver(board).start()
    monkeypatch.setenv("SEMCACHE_VLLM_PUSH", "%s:%d" % receiver.address)
    monkeypatch.setenv("SEMCACHE_VLLM_PUSH_HZ", "50")
    monkeypatch.delenv("SEMCACHE_VLLM_DEPLOYMENT", raising=False)
    plugin = importlib.import_module("vllm_hooks.vllm_plugin")
    config = SimpleNamespace(model_config=SimpleNamespace(served_model_name=["tiny"]))
    try:
        logger = plugin.LoadSignalStatLogger(config, 0)
        assert isinstance(logger, fake_vllm)
        scheduler, iteration = stats(running=3, waiting=6, kv=0.7)
        logger.record(scheduler, iteration, None, engine_idx=0)  # 0.12+ signature
        logger.record(scheduler, iteration)  # 0.10/0.11 signature
        assert wait_for(lambda: (board.get("tiny") or SimpleNamespace(waiting=0)).waiting == 6)
        logger.record(object(), object())  # fields missing: ignored, no exception
    finally:
        if plugin._publisher is not None:
            plugin._publisher.close()
        receiver.close()


def test_plugin_is_inert_without_a_push_target(fake_vllm, monkeypatch):
    monkeypatch.delenv("SEMCACHE_VLLM_PUSH", raising=False)
    plugin = importlib.import_module("vllm_hooks.vllm_plugin")
    logger = plugin.LoadSignalStatLogger(SimpleNamespace(), 0)
    logger.record(*stats(waiting=3))
    assert logger._recorder is None


def test_entry_point_is_declared():
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "vllm_hooks" / "pyproject.toml").read_text())
    group = project["project"]["entry-points"]["vllm.stat_logger_plugins"]
    assert group == {"semcache_load": "vllm_hooks.vllm_plugin:LoadSignalStatLogger"}
