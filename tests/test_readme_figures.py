"""Every generated block of figures in README.md and bench/README.md is what its committed JSON
renders (``python -m bench readme``), and names a result file that is there and tracked."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench import readme
from bench.readme_tables import SECTIONS


@pytest.mark.parametrize("path", readme.READMES, ids=lambda path: path.relative_to(readme.ROOT).as_posix())
def test_the_readme_figures_are_what_the_committed_results_render(path):
    stale = readme.stale_blocks(path)
    assert not stale, (f"{path.name}: {', '.join(stale)} differ from bench/results: run "
                       "`python -m bench readme` (after rerunning the suite that changed)")


def test_every_block_names_a_known_section_and_a_tracked_result_file():
    used = {match["name"] for path in readme.READMES for match in readme.BLOCK.finditer(path.read_text())}
    assert used, "no generated block found"
    assert used <= set(SECTIONS)
    sources = {SECTIONS[name].source for name in used}
    missing = [source for source in sources if not (readme.RESULTS / source).is_file()]
    assert not missing, missing
    if shutil.which("git") and (readme.ROOT / ".git").exists():
        listed = subprocess.run(["git", "-C", str(readme.ROOT), "ls-files", "bench/results"],
                                capture_output=True, text=True, check=True).stdout.split()
        assert {f"bench/results/{source}" for source in sources} <= set(listed), \
            "a README block names a result file git does not track"


def test_a_changed_result_makes_its_block_stale(tmp_path):
    """The check compares for real: one figure changed in a copy of the JSON, and the block
    rendered from the copy no longer matches the README."""
    import json

    shutil.copytree(readme.RESULTS, tmp_path / "results")
    faults = tmp_path / "results" / "faults.json"
    payload = json.loads(faults.read_text())
    payload["results"]["fail_opens"] += 1
    faults.write_text(json.dumps(payload))
    stale = readme.stale_blocks(readme.ROOT / "bench" / "README.md", tmp_path / "results")
    assert stale == ["faults"]


def test_an_unknown_block_name_is_a_clear_error(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("<!-- bench:no-such-suite -->\nold\n<!-- /bench:no-such-suite -->\n")
    with pytest.raises(readme.StaleFigures, match="no section 'no-such-suite'"):
        readme.stale_blocks(page)
