"""What the monitor sees over 2013: regenerates docs/drift-2013.png for the README.

A champion trained on January–February 2013 is monitored every week of the rest of the year, as the
`<model>__monitor` DAG would, in a throwaway home. Run from the checkout (about 5 minutes):

    .venv/bin/python docs/drift_story.py
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

OUTPUT = Path(__file__).with_name("drift-2013.png")
TRAINED_AS_OF = dt.date(2013, 2, 28)


def main() -> None:
    os.environ["NIGHTSHIFT_HOME"] = tempfile.mkdtemp(prefix="nightshift-drift-story-")
    for variable in ("NIGHTSHIFT_LAKE_URI", "MLFLOW_TRACKING_URI", "NIGHTSHIFT_LOCK_URI"):
        os.environ.pop(variable, None)
    from nightshift import steps
    from nightshift.data.validate import validate_days

    run = steps.Run.of("flights_delay")
    year = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    steps.ingest_raw(run, year)
    validate_days(run.spec, run.lake, year, run.settings.expectations_dir)  # the year's quarantined days stay out
    steps.retrain(run, TRAINED_AS_OF, infra_check=False)

    weeks = [TRAINED_AS_OF + dt.timedelta(days=7 * i) for i in range(1, 44)]
    reports = [steps.monitor(run, as_of) for as_of in weeks]
    late_share = [_late_share(run.spec, run.lake, as_of) for as_of in weeks]
    plot(reports, late_share).savefig(OUTPUT, dpi=110)
    for report, share in zip(reports, late_share, strict=True):
        print(f"{report.as_of}  realized {report.realized:.3f}  late {share:.0%}  {','.join(report.breaches) or '-'}")
    print(f"wrote {OUTPUT}")


def _late_share(spec, lake, as_of: dt.date) -> float:
    from nightshift.model.features import make_target

    days = lake.coverage(spec.source.dataset, as_of - dt.timedelta(days=6), as_of).validated
    target, known = make_target(spec, lake.read_days("validated", spec.source.dataset, days)[spec.target.column])
    return float(target[known].mean())


def plot(reports, late_share):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    days = [r.as_of for r in reports]
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    auc = figure.subplots()
    auc.plot(days, [r.realized for r in reports], marker="o", color="tab:blue", label="realized ROC AUC (week)")
    expected = reports[0].expected
    auc.axhline(expected, color="grey", linestyle="--", label=f"holdout ROC AUC at promotion ({expected:.3f})")
    auc.axhline(expected - 0.03, color="tab:red", linestyle=":", label="decay limit (-0.03)")
    decayed = [(day, report.realized) for day, report in zip(days, reports, strict=True)
               if any(breach.startswith("decay") for breach in report.breaches)]
    if decayed:
        auc.scatter(*zip(*decayed, strict=True), color="tab:red", zorder=3, label="decay signalled")
    auc.set_ylabel("ROC AUC")
    late = auc.twinx()
    late.bar(days, late_share, width=5, alpha=0.25, color="tab:orange", label="share of late flights")
    late.set_ylabel("share of flights late (>15 min)")
    handles = auc.get_legend_handles_labels()[0] + late.get_legend_handles_labels()[0]
    auc.legend(handles=handles, loc="lower left", fontsize=8)
    figure.suptitle("flights_delay: a champion trained on Jan-Feb 2013, monitored weekly for the rest of the year")
    return figure


if __name__ == "__main__":
    main()
