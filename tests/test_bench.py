"""`make bench` cannot rot: every benchmark runs at a tiny size, end to end, and reports its figures
(tests/bench_smoke.py); the committed RESULTS.md reports every benchmark."""

from __future__ import annotations

import re

import pytest

from tests.bench_smoke import BENCHMARKS, IDS, ON_THE_STACK, ROOT, smoke_run, summary_rows


def test_the_smoke_runs_cover_every_benchmark_of_make_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from run import ORDER

    assert list(BENCHMARKS) == list(ORDER)


@pytest.mark.e2e
@pytest.mark.timeout(1900)  # about 7 min on 2 cores; past 1800 s the run's own timeout says so first
def test_every_benchmark_runs_at_a_tiny_size(tmp_path):
    smoke_run(tmp_path, [module for module in BENCHMARKS if module not in ON_THE_STACK])


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
