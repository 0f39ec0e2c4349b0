"""The Models page of the Airflow UI (served by plugins/nightshift_models.py): one row per model with
what `nightshift status` shows, the last runs of its DAGs, and links to MLflow, the runs and reports."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from nightshift.operate.status import ALIASES, ModelStatus

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 16px; color: #1a202c; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f7fafc; } td.runs { white-space: nowrap; }
.muted { color: #718096; } .bad { color: #c53030; } .good { color: #2f855a; }
"""


@dataclass(frozen=True)
class RunSummary:
    dag_id: str
    run_id: str
    state: str
    run_after: str


def render(statuses: list[ModelStatus | tuple[str, Exception]], runs: dict[str, list[RunSummary]]) -> str:
    """The page; a model whose facts could not be read shows the error in its row."""
    header = "".join(f"<th>{escape(title)}</th>" for title in
                     ("Model", *(alias.capitalize() for alias in ALIASES), "Last runs", "Open quarantines",
                      "Last monitoring", "Data"))
    rows = "".join(_row(status, runs) for status in statuses)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Nightshift models</title>"
            f"<style>{STYLE}</style></head><body><h2>Models</h2>"
            f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></body></html>")


def _row(status: ModelStatus | tuple[str, Exception], runs: dict[str, list[RunSummary]]) -> str:
    if isinstance(status, tuple):
        model, error = status
        return (f"<tr data-model='{escape(model)}'><td>{escape(model)}</td>"
                f"<td colspan='7' class='bad'>cannot read: {escape(f'{type(error).__name__}: {error}')}</td></tr>")
    cells = [f"<b>{escape(status.model)}</b>", *(_version(status, alias) for alias in ALIASES),
             _runs(runs.get(status.model, [])), _quarantines(status),
             escape(status.monitoring) if status.monitoring else "<span class='muted'>not monitored yet</span>",
             _data(status)]
    classes = ["model", *ALIASES, "runs", "quarantines", "monitoring", "data"]
    return (f"<tr data-model='{escape(status.model)}'>"
            + "".join(f"<td class='{name}'>{cell}</td>" for name, cell in zip(classes, cells, strict=True)) + "</tr>")


def _version(status: ModelStatus, alias: str) -> str:
    version = status.aliased(alias)
    if version is None:
        return "<span class='muted'>none</span>"
    label = f"v{escape(version.version)}"
    if link := status.version_link(version.version):
        label = f"<a href='{escape(link)}' target='_blank'>{label}</a>"
    return (f"{label} {escape(version.estimator)} {escape(version.primary_metric)}<br><span class='muted'>params "
            f"{escape(version.params)}; tuning {escape(version.tuning)}; registered {escape(version.registered)}, "
            f"trained on {escape(version.train_window)}, gate: {escape(version.decision)}</span>")


def _runs(runs: list[RunSummary]) -> str:
    if not runs:
        return "<span class='muted'>no runs</span>"
    items = []
    for run in runs:
        kind = run.dag_id.rsplit("__", 1)[-1]
        css = {"success": "good", "failed": "bad"}.get(run.state, "muted")
        href = f"/dags/{quote(run.dag_id)}/runs/{quote(run.run_id, safe='')}"
        items.append(f"<a href='{escape(href)}' target='_top'>{escape(kind)}</a> "
                     f"<span class='{css}'>{escape(run.state)}</span> "
                     f"<span class='muted'>{escape(run.run_after)}</span>")
    return "<br>".join(items)


def _quarantines(status: ModelStatus) -> str:
    if not status.quarantine_reports:
        return "<span class='good'>none</span>"
    return "<br>".join(f"<span class='bad'>{day}</span> <span class='muted'>{escape(report)}</span>"
                       for day, report in status.quarantine_reports.items())


def _data(status: ModelStatus) -> str:
    span = f" ({status.validated[0]}..{status.validated[-1]})" if status.validated else ""
    scored = f"<br>{len(status.scored)} days scored" + (f" by v{escape(status.scored_by)}" if status.scored else "")
    lake = f"<span class='muted'>{escape(status.lake_uri)}</span>"
    return f"{len(status.validated)} days validated{span}{scored}<br>{lake}"
