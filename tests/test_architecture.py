"""The layout is part of the design: small modules, no import cycles, a lean import, a plugin
distribution that pulls nothing into a vLLM environment, in-process helpers for users."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "litellm_semcache"


def _modules(package: Path) -> dict[str, Path]:
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions: those are deliberate lazy
    imports, e.g. optional backends)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks import nothing at run time
            continue
    return names


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in _modules(PACKAGE).items()
            if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long


def test_no_import_cycle_between_modules():
    modules = _modules(PACKAGE)
    graph = {name: {dep for dep in _imports(path) if dep in modules and dep != name}
             for name, path in modules.items()}
    # a package's __init__ importing its own submodules is its public face, not a cycle
    for name in graph:
        graph[name] = {dep for dep in graph[name] if not (name.startswith(dep + ".")
                                                          and dep in modules)}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_shipped_package_carries_no_process_launchers():
    shipped = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    for launcher in ("subprocess", "redis-server", ".venv-vllm", "litellm --config"):
        assert launcher not in shipped, launcher


def test_importing_and_installing_with_the_load_policy_off_imports_no_vllm_code(tmp_path):
    script = f"""
import sys, litellm_semcache
from litellm_semcache.testing import FakeEmbedder
from litellm_semcache.embedding import MemoEmbedder
engine = litellm_semcache.install({{"store": {{"path": {str(tmp_path / 's')!r}}}}},
                                  embedder=MemoEmbedder(FakeEmbedder(), 16))
engine.lookup({{"model": "m", "messages": [{{"role": "user", "content": "hello"}}]}})
print(sorted(m for m in sys.modules if m.startswith(("vllm", "litellm_semcache.load.adaptive"))))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, check=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin",
                                                        "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_the_vllm_plugin_distribution_needs_only_the_standard_library():
    project = tomllib.loads((ROOT / "vllm_hooks" / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == []
    entry = project["entry-points"]["vllm.stat_logger_plugins"]["semcache_load"]
    assert entry == "vllm_hooks.vllm_plugin:LoadSignalStatLogger"
    allowed = set(sys.stdlib_module_names) | {"vllm_hooks"}
    for path in (ROOT / "vllm_hooks").glob("*.py"):
        outside = {name for name in _imports(path) if name.split(".")[0] not in allowed}
        if path.name == "vllm_plugin.py":  # runs inside vLLM: its base class is vLLM's
            outside = {name for name in outside if not name.startswith("vllm.")}
        assert not outside, (path.name, outside)
    main = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert main["optional-dependencies"]["vllm"] == [f"{project['name']}=={project['version']}"]


def test_the_in_process_helpers_build_a_working_cache_without_a_model():
    from litellm_semcache import CacheSettings, Outcome, SemanticCache
    from litellm_semcache.embedding import MemoEmbedder
    from litellm_semcache.testing import FakeClock, FakeEmbedder, MemoryStore

    clock, store = FakeClock(), MemoryStore()
    cache = SemanticCache(CacheSettings(), embedder=MemoEmbedder(FakeEmbedder(), 64), store=store,
                          clock=clock)
    request = {"model": "m", "messages": [{"role": "user", "content": "tell me a joke"}]}
    assert cache.lookup(request).outcome is Outcome.MISS
    cache.store(request, {"answer": "a joke"})
    assert len(store) == 1
    assert cache.lookup(request).response == {"answer": "a joke"}
    clock.advance(3601)  # default category: one hour
    assert cache.lookup(request).outcome is Outcome.MISS and len(store) == 0
