"""The gate report as a picture: metric changes with the bootstrap interval, and the worst slices."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nightshift.gate import GateReport


def plot_report(report: GateReport):
    """A matplotlib Figure; the caller logs it (MLflow) and it is closed by the garbage collector."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    metrics_axis, slices_axis = figure.subplots(1, 2)
    names = list(report.challenger)
    deltas = [report.challenger[n] - (report.champion or {}).get(n, float("nan")) for n in names]
    metrics_axis.barh(names, deltas, color=["tab:green" if d >= 0 else "tab:red" for d in deltas])
    if report.interval is not None and report.champion is not None:
        sign = 1 if deltas[names.index(report.primary_metric)] * report.interval.gain >= 0 else -1
        low, high = sorted((sign * report.interval.lower, sign * report.interval.upper))
        y = names.index(report.primary_metric)
        metrics_axis.errorbar([(low + high) / 2], [y], xerr=[[(high - low) / 2]], fmt="none", color="black",
                              capsize=4, label=f"{report.interval.confidence:.0%} interval")
        metrics_axis.legend(loc="lower right")
    metrics_axis.axvline(0, color="grey", linewidth=0.8)
    metrics_axis.set_title(f"challenger v{report.challenger_version} - champion v{report.champion_version or '-'}")
    slices = report.slices[::-1]
    slices_axis.barh([f"{s.column}={s.value}" for s in slices], [s.drop for s in slices], color="tab:orange")
    slices_axis.set_title(f"worst slices: drop in {report.primary_metric} (positive = worse)")
    slices_axis.axvline(0, color="grey", linewidth=0.8)
    figure.suptitle(f"{report.model}: {report.decision.upper()}")
    return figure
