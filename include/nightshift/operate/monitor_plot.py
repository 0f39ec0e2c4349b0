"""The monitor report as a picture: drift per feature against its limit, and realized performance."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nightshift.operate.monitor import MonitorReport


def plot_monitor(report: MonitorReport):
    """A matplotlib Figure for MLflow's log_figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    drift_axis, metric_axis = figure.subplots(1, 2, width_ratios=[3, 1])
    drift = sorted(report.drift, key=lambda d: d.psi)
    drift_axis.barh([d.feature for d in drift] + ["prediction"], [d.psi for d in drift] + [report.prediction_psi],
                    color=[("tab:orange" if d.expected else "tab:red") if d.beyond_limits else "tab:blue"
                           for d in drift] + ["tab:purple"])
    drift_axis.set_title("PSI against the training window (red: beyond a limit; orange: expected)")
    if report.realized is not None and report.expected is not None:
        metric_axis.bar(["holdout", "realized"], [report.expected, report.realized], color=["grey", "tab:green"])
        metric_axis.set_ylim(min(report.expected, report.realized) - 0.05, max(report.expected, report.realized) + 0.02)
    metric_axis.set_title("primary metric")
    figure.suptitle(f"{report.model} v{report.champion_version}, up to {report.as_of}: "
                    + ("DECAY" if report.breaches else "healthy"))
    return figure
