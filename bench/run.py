"""`make bench`: every benchmark, each as a ratio against its baseline measured in the same run; writes
bench/RESULTS.md and its plots. `--smoke` runs each at a tiny size into a scratch folder (what
`make test` does, so the benchmarks cannot rot) and leaves RESULTS.md alone. `--only` re-runs some benchmarks
and puts their rows and sections into RESULTS.md, each section saying it was measured apart.

    python bench/run.py [--smoke] [--only ID ...] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib
import re
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
ORDER = ("parse", "pipeline", "validation", "freshness", "families", "features", "serving", "many_models")


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


SUMMARY_ROW = re.compile(r"\| \[(\w+)\]")  # a benchmark's row in the summary table


def with_rerun(results: str, rerun: str, command: str, minutes: float) -> str:
    """RESULTS.md (`results`) with the rows and sections of `rerun` (the RESULTS.md of some benchmarks run
    alone) in place of theirs, or added; each such section says that it was measured apart, when and how."""
    def parts(markdown: str) -> tuple[dict[str, str], dict[str, str]]:
        rows = {found[1]: line for line in markdown.splitlines() if (found := SUMMARY_ROW.match(line))}
        sections = {bench: text.strip() for bench, text in re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", markdown,
                                                                       flags=re.MULTILINE | re.DOTALL)}
        return rows, sections

    rows, sections = parts(results)
    new_rows, new_sections = parts(rerun)
    rows.update(new_rows)
    apart = f"Measured apart from the full run, by `{command}` ({minutes:.1f} minutes): {machine()}"
    sections.update({bench: f"{apart}\n\n{text}" for bench, text in new_sections.items()})
    top = results.split("\n## ", 1)[0].splitlines()  # the title, the summary table and the full run's machine
    first_row = next(number for number, line in enumerate(top) if SUMMARY_ROW.match(line))
    kept = [line for line in top if not SUMMARY_ROW.match(line)]
    return "\n".join([*kept[:first_row], *rows.values(), *kept[first_row:], "",
                      *(f"## {bench}\n\n{text}\n" for bench, text in sections.items())])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, scratch output, RESULTS.md untouched")
    parser.add_argument("--only", nargs="+", choices=ORDER, default=list(ORDER))
    parser.add_argument("--workdir", type=Path, help="where data and homes go (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nightshift-bench-"))
    plots = workdir / "plots" if args.smoke else PLOTS
    plots.mkdir(parents=True, exist_ok=True)
    started, outcomes = time.monotonic(), []
    for name in [n for n in ORDER if n in args.only]:
        print(f"== {name}", flush=True)
        produced = importlib.import_module(name).run(workdir / name, plots, args.smoke)
        for outcome in produced if isinstance(produced, list) else [produced]:
            print(f"   {outcome.id}: {outcome.measured} (target {outcome.target})", flush=True)
            outcomes.append(outcome)
    minutes = (time.monotonic() - started) / 60
    if args.smoke:
        (workdir / "RESULTS.md").write_text(results_markdown(outcomes, minutes, plots.parent))
    elif args.only == list(ORDER):
        RESULTS.write_text(results_markdown(outcomes, minutes, BENCH))
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    else:
        rerun = results_markdown(outcomes, minutes, BENCH)
        command = "python bench/run.py --only " + " ".join(args.only)
        RESULTS.write_text(with_rerun(RESULTS.read_text(), rerun, command, minutes))
        print(f"updated {', '.join(args.only)} in {RESULTS.relative_to(ROOT)}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
