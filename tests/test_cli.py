"""The ``semcache`` command line: version, flush of an unknown category, live counters behind
a key; every error one line on stderr with exit status 2."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from litellm_semcache import __version__, cli
from litellm_semcache.config import BUILTIN_DEFAULTS

METRICS = """\
# TYPE semcache_hits_total counter
semcache_hits_total{category="chat"} 3.0
# TYPE semcache_misses_total counter
semcache_misses_total{category="chat"} 1.0
# TYPE semcache_lookups_total counter
semcache_lookups_total{category="chat"} 4.0
"""


@pytest.fixture
def metrics_behind_a_key():
    """A /metrics endpoint that answers only with ``Authorization: Bearer sk-metrics``."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("authorization") != "Bearer sk-metrics":
                self.send_response(401)
                self.end_headers()
                return
            body = METRICS.encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"semcache {__version__}"


def test_stats_metrics_sends_the_api_key(metrics_behind_a_key, capsys):
    assert cli.main(["stats", "--metrics", metrics_behind_a_key, "--api-key", "sk-metrics"]) == 0
    out = capsys.readouterr().out
    assert "chat" in out and "0.750" in out  # hit rate computed from the counters: 3 of 4


def test_stats_metrics_without_the_key_says_so(metrics_behind_a_key, capsys):
    assert cli.main(["stats", "--metrics", metrics_behind_a_key]) == 2
    assert "HTTP 401 (pass --api-key)" in capsys.readouterr().err


def test_flush_of_an_unknown_category_is_an_error(tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"store:\n  path: {tmp_path / 'store'}\n")
    assert cli.main(["flush", "--category", "finanse", "--yes", "--config", str(policy)]) == 2
    err = capsys.readouterr().err
    assert "no category 'finanse' (did you mean 'finance'?)" in err


def test_warm_through_a_proxy_needs_a_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LITELLM_API_KEY", raising=False)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "hi", "response": "hello"}) + "\n")
    assert cli.main(["warm", str(pairs), "--proxy", "http://127.0.0.1:9"]) == 2
    assert "--api-key" in capsys.readouterr().err


def test_warm_reports_an_unreachable_proxy_in_one_line(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "hi", "response": "hello"}) + "\n")
    assert cli.main(["warm", str(pairs), "--proxy", "http://127.0.0.1:9", "--api-key", "k"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("semcache: cannot reach http://127.0.0.1:9") and "Traceback" not in err


def test_the_builtin_policy_passes_check_config(capsys):
    assert cli.main(["check-config", str(BUILTIN_DEFAULTS)]) == 0
    assert "categories" in capsys.readouterr().out
