"""`make bench`: every benchmark, each as a ratio against its baseline measured in the same run; writes
bench/RESULTS.md and its plots. `--smoke` runs each at a tiny size into a scratch folder (what
`make test` does, so the benchmarks cannot rot) and leaves RESULTS.md alone.

    python bench/run.py [--smoke] [--only ID ...] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Outcome, machine

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
PLOTS = BENCH / "plots"
# pipeline: scaling, overhead and scoring
ORDER = ("parse", "pipeline", "validation", "freshness", "families", "features", "serving")


def results_markdown(outcomes: list[Outcome], minutes: float, folder: Path) -> str:
    """RESULTS.md for `folder`: the summary table, then each benchmark's figures and plots."""
    def verdict(met: bool | None) -> str:
        return "–" if met is None else "met" if met else "**missed**"

    lines = ["# Benchmark results", "",
             "Written by `make bench` (`python bench/run.py`); what each benchmark does, and how, is in "
             "[README.md](README.md).", "",
             "| id | what | baseline | target | measured | target met |", "|---|---|---|---|---|---|"]
    lines += [f"| [{o.id}](#{o.id}) | {o.what} | {o.baseline} | {o.target} | {o.measured} | {verdict(o.met)} |"
              for o in outcomes]
    lines += ["", machine(), f"The whole run took {minutes:.1f} minutes.", ""]
    for outcome in outcomes:
        lines += [f"## {outcome.id}", "", outcome.detail.strip(), ""]
        lines += [f"![{outcome.id}]({plot.relative_to(folder).as_posix()})" for plot in outcome.plots]
        if outcome.note:
            lines += ["", outcome.note.strip()]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, scratch output, RESULTS.md untouched")
    parser.add_argument("--only", nargs="+", choices=ORDER, default=list(ORDER))
    parser.add_argument("--workdir", type=Path, help="where data and homes go (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nightshift-bench-"))
    plots = workdir / "plots" if args.smoke or args.only != list(ORDER) else PLOTS
    plots.mkdir(parents=True, exist_ok=True)
    started, outcomes = time.monotonic(), []
    for name in [n for n in ORDER if n in args.only]:
        print(f"== {name}", flush=True)
        produced = importlib.import_module(name).run(workdir / name, plots, args.smoke)
        for outcome in produced if isinstance(produced, list) else [produced]:
            print(f"   {outcome.id}: {outcome.measured} (target {outcome.target})", flush=True)
            outcomes.append(outcome)
    minutes = (time.monotonic() - started) / 60
    if not args.smoke and args.only == list(ORDER):
        RESULTS.write_text(results_markdown(outcomes, minutes, BENCH))
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    else:
        (workdir / "RESULTS.md").write_text(results_markdown(outcomes, minutes, plots.parent))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
