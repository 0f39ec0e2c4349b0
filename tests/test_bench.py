"""`make bench` cannot rot: every benchmark runs at a tiny size, end to end, and reports its figures.

The figures of a smoke run mean nothing (tiny sizes, a busy machine); the test checks that each
benchmark ran, that both sides of each ratio were measured, and that the report and plots were made.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IDS = ("parse", "scaling", "overhead", "validation", "freshness", "scoring", "families", "features", "serving",
       "many_models")


def summary_rows(results: str) -> dict[str, list[str]]:
    """The summary table's cells by benchmark id."""
    rows = {}
    for line in results.splitlines():
        if found := re.match(r"\| \[(\w+)\]", line):
            rows[found[1]] = [cell.strip() for cell in line.strip("|").split("|")]
    return rows


@pytest.mark.e2e
@pytest.mark.timeout(1900)  # about 7 min on 2 cores; past 1800 s the run's own timeout says so first
def test_every_benchmark_runs_at_a_tiny_size(tmp_path):
    done = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--workdir", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    results = (tmp_path / "RESULTS.md").read_text()
    rows = summary_rows(results)
    assert sorted(rows) == sorted(IDS), results
    for benchmark, cells in rows.items():
        assert re.search(r"\d", cells[4]), f"{benchmark}: no figure measured: {cells}"
        assert cells[5] in ("met", "**missed**", "–"), cells
        assert f"## {benchmark}" in results
    for image in re.findall(r"!\[\w+\]\(([^)]+)\)", results):
        assert (tmp_path / image).stat().st_size > 5_000, image


def test_committed_results_report_every_benchmark():
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    rows = summary_rows(results)
    assert sorted(rows) == sorted(IDS)
    for image in re.findall(r"!\[\w+\]\(([^)]+)\)", results):
        assert (ROOT / "bench" / image).is_file(), f"RESULTS.md shows {image}, which is not committed"


def test_a_rerun_of_some_benchmarks_replaces_their_rows_and_sections_and_says_so(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from common import Outcome
    from run import results_markdown, with_rerun

    committed = (ROOT / "bench" / "RESULTS.md").read_text()
    rerun = results_markdown([Outcome(id="parse", what="w", baseline="b", target="t", measured="0.1 s", met=True,
                                      detail="parse's new figures")], 2.0, ROOT / "bench")
    merged = with_rerun(committed, rerun, "python bench/run.py --only parse", 2.0)
    assert sorted(summary_rows(merged)) == sorted(summary_rows(committed))
    assert summary_rows(merged)["parse"] == ["[parse](#parse)", "w", "b", "t", "0.1 s", "met"]
    parse = merged.split("## parse\n", 1)[1].split("\n## ", 1)[0]
    assert parse.strip().startswith("Measured apart from the full run, by `python bench/run.py --only parse`")
    assert "parse's new figures" in parse
    others = [bench for bench in summary_rows(committed) if bench != "parse"]
    for bench in others:
        assert summary_rows(merged)[bench] == summary_rows(committed)[bench]
        section = committed.split(f"## {bench}\n", 1)[1].split("\n## ", 1)[0].strip()
        assert section in merged, bench
