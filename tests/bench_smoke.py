"""Running the benchmarks at a tiny size (`bench/run.py --smoke`), for tests/test_bench*.py.

The figures of a smoke run mean nothing (tiny sizes, a busy machine); what is checked is that each
benchmark ran, that both sides of each ratio were measured, and that the report and plots were made.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each module of bench/ and the ids of the rows it reports, in bench/run.py's order.
BENCHMARKS = {"parse": ("parse",), "pipeline": ("scaling", "overhead", "scoring"), "validation": ("validation",),
              "freshness": ("freshness",), "families": ("families",), "features": ("features",),
              "serving": ("serving",), "many_models": ("many_models",)}
IDS = tuple(row for rows in BENCHMARKS.values() for row in rows)
ON_THE_STACK = ("many_models",)  # smoke-tested in test_bench_on_the_stack.py, beside the others


def summary_rows(results: str) -> dict[str, list[str]]:
    """The summary table's cells by benchmark id."""
    rows = {}
    for line in results.splitlines():
        if found := re.match(r"\| \[(\w+)\]", line):
            rows[found[1]] = [cell.strip() for cell in line.strip("|").split("|")]
    return rows


def smoke_run(workdir: Path, modules: list[str]) -> None:
    """bench/run.py --smoke for these modules: every row they report has a figure and a verdict, every plot
    was drawn."""
    done = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--only", *modules, "--workdir", str(workdir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    results = (workdir / "RESULTS.md").read_text()
    rows = summary_rows(results)
    assert sorted(rows) == sorted(row for module in modules for row in BENCHMARKS[module]), results
    for benchmark, cells in rows.items():
        assert re.search(r"\d", cells[4]), f"{benchmark}: no figure measured: {cells}"
        assert cells[5] in ("met", "**missed**", "–"), cells
        assert f"## {benchmark}" in results
    for image in re.findall(r"!\[\w+\]\(([^)]+)\)", results):
        assert (workdir / image).stat().st_size > 5_000, image
