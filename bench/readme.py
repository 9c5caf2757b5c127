"""``python -m bench readme``: every figure in README.md and bench/README.md from a committed result.

A generated block in a README sits between two marker comments naming its section::

    <!-- bench:peers -->
    ...rendered from bench/results/peers_mixed.json, with its source line...
    <!-- /bench:peers -->

``python -m bench readme`` re-renders every block from the JSON the section names (the file,
the command that wrote it, when, and the load average, in the block's last line);
``--check`` only compares and exits 1 with the names of the stale blocks (what
``tests/test_readme_figures.py`` runs). Text outside the markers is never touched. Adding a
section: a render function and one :class:`~bench.readme_tables.Section` line in
``bench/readme_tables.py``, then the two markers where the figures belong.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from bench.readme_tables import SECTIONS, Section

ROOT = Path(__file__).resolve().parents[1]
READMES = (ROOT / "README.md", ROOT / "bench" / "README.md")
RESULTS = ROOT / "bench" / "results"
BLOCK = re.compile(r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)",
                   re.DOTALL)


class StaleFigures(Exception):
    """A block names no known section, or its result file is missing."""


def render(section: Section, results: Path = RESULTS) -> str:
    """The block's text: the section's lines from its JSON, then where they came from."""
    path = results / section.source
    if not path.is_file():
        raise StaleFigures(f"{section.name}: {path.relative_to(ROOT)} is missing")
    payload = json.loads(path.read_text())
    lines = section.render(payload["results"])
    return "\n".join([*lines, "", source_line(section, payload)]) + "\n"


def source_line(section: Section, payload: dict[str, Any]) -> str:
    """Which file, which command, when, at what load: a reader can rerun and compare."""
    command = payload.get("command") or section.command
    load = payload.get("load_average")
    load_text = (f"load average {load:.2f} when written" if isinstance(load, (int, float))
                 else "load average as recorded above" if section.load_in_rows
                 else "load average not recorded")
    when = str(payload.get("when", "?")).replace("T", " ")
    return (f"<sub>From `bench/results/{section.source}`, written by `{command}` on {when} "
            f"({load_text}). Regenerate this block with `python -m bench readme`.</sub>")


def rendered_readme(path: Path, results: Path = RESULTS) -> str:
    """``path``'s text with every generated block re-rendered."""
    def replace(match: re.Match[str]) -> str:
        section = SECTIONS.get(match["name"])
        if section is None:
            raise StaleFigures(f"{path.name}: no section {match['name']!r} "
                               f"(known: {', '.join(sorted(SECTIONS))})")
        return match.group(1) + render(section, results) + match.group(4)

    return BLOCK.sub(replace, path.read_text())


def stale_blocks(path: Path, results: Path = RESULTS) -> list[str]:
    """Names of the blocks of ``path`` whose text is not what their JSON renders."""
    return _stale_names(path.read_text(), rendered_readme(path, results))


def _stale_names(text: str, fresh_text: str) -> list[str]:
    fresh = {m["name"]: m["body"] for m in BLOCK.finditer(fresh_text)}
    return [m["name"] for m in BLOCK.finditer(text) if fresh[m["name"]] != m["body"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench readme", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when a block differs from its JSON")
    args = parser.parse_args(argv)
    stale = {}
    for path in READMES:
        try:
            text, fresh = path.read_text(), rendered_readme(path)  # each rendered once
            names = _stale_names(text, fresh)
            if names and not args.check:
                path.write_text(fresh)
        except StaleFigures as problem:
            print(f"python -m bench readme: {problem}")
            return 2
        if names:
            stale[path.relative_to(ROOT)] = names
    for path, names in stale.items():
        print(f"{path}: {'stale' if args.check else 'regenerated'}: {', '.join(names)}")
    if not stale:
        print("README figures match bench/results/")
    return 1 if stale and args.check else 0
