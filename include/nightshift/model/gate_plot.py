"""The gate report as a picture: each metric's improvement with the bootstrap interval, and the
worst slices. A first model (no champion) shows its holdout metrics instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nightshift.model.gate import GateReport


def plot_report(report: GateReport, higher_is_better: dict[str, bool]):
    """A matplotlib Figure for MLflow's log_figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    metrics_axis, slices_axis = figure.subplots(1, 2)
    names = list(report.challenger)
    if report.champion is None:
        metrics_axis.barh(names, [report.challenger[n] for n in names], color="tab:blue")
        metrics_axis.set_title(f"challenger v{report.challenger_version} on the holdout (no champion yet)")
    else:
        sign = {n: 1 if higher_is_better[n] else -1 for n in names}
        gains = [sign[n] * (report.challenger[n] - report.champion[n]) for n in names]
        metrics_axis.barh(names, gains, color=["tab:green" if g >= 0 else "tab:red" for g in gains])
        if report.interval is not None:
            interval, row = report.interval, names.index(report.primary_metric)
            metrics_axis.errorbar([interval.gain], [row], xerr=[[interval.gain - interval.lower],
                                                               [interval.upper - interval.gain]],
                                  fmt="none", color="black", capsize=4, label=f"{interval.confidence:.0%} interval")
            metrics_axis.legend(loc="best")
        metrics_axis.axvline(0, color="grey", linewidth=0.8)
        metrics_axis.set_title(f"v{report.challenger_version} vs champion v{report.champion_version} "
                               "(positive = better)")
    slices = report.slices[::-1]
    slices_axis.barh([f"{s.column}={s.value}" for s in slices], [s.drop for s in slices], color="tab:orange")
    slices_axis.set_title(f"worst slices: drop in {report.primary_metric} (positive = worse)")
    slices_axis.axvline(0, color="grey", linewidth=0.8)
    figure.suptitle(f"{report.model}: {report.decision.upper()}")
    return figure
