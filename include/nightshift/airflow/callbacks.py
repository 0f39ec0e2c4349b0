"""Task callbacks: end every failed task's log with the on-call failure summary."""

from __future__ import annotations

import logging

from nightshift.failures import failure_summary

log = logging.getLogger("nightshift")


def log_failure_summary(context) -> None:
    """on_failure_callback: runs in the task's process after the traceback, so the summary is the
    last thing in the log."""
    error = context.get("exception")
    if error is None:
        return
    params, run = context.get("params") or {}, context.get("dag_run")
    run_date = (run.logical_date or run.run_after) if run is not None else None
    day = params.get("as_of") or params.get("start") or (run_date.date().isoformat() if run_date else "")
    model = params.get("model") or context["dag"].dag_id.split("__")[0]  # <model>__ingest, or the rollback form
    log.error("\n%s", failure_summary(error, model=model, step=context["task"].task_id, day=day))
