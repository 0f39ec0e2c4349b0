"""Task callbacks: end every failed try's log with the on-call failure summary, and send it by email
and to Slack when those are configured (NIGHTSHIFT_ALERT_EMAILS, NIGHTSHIFT_SLACK_WEBHOOK_CONN_ID)."""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import shlex

from airflow.sdk.exceptions import AirflowTaskTimeout

from nightshift.failures import InfraError, SourceNotReady, failure_summary
from nightshift.settings import Settings

log = logging.getLogger("nightshift")
SLACK_LINES = 7  # the summary's head: title, where, impact, cause, and the start of the evidence
LATE_DATA_RETRY_DELAY = dt.timedelta(minutes=30)  # the retry policy's wait for late source data
# The impact line's registry lookup gets this long: callbacks run in the task's overtime, which Airflow ends
# after [core] task_success_overtime (20 s), and importing MLflow alone takes seconds on a loaded machine.
CHAMPION_LOOKUP_S = 10


def log_failure_summary(context) -> None:
    """on_failure_callback: runs in the task's process after the traceback; notifies first (a failed
    notification logs its own error), so that the summary is the last thing in the log."""
    if (summary := _summary(context, retried=False)) is not None:
        notify(Settings.from_env(), summary, context)
        log.error("\n%s", summary)


def log_retry_summary(context) -> None:
    """on_retry_callback: a try that will be retried also ends with the summary (no notification:
    the last try sends it if the retries do not help)."""
    if (summary := _summary(context, retried=True)) is not None:
        log.error("\n%s", summary)


def where(context, *, retried: bool, now: dt.datetime | None = None) -> str:
    """The task, its try of how many, when the next one runs (or that none will), and the run."""
    ti, task = context["ti"], context["task"]
    tries = f"task {task.task_id}, try {ti.try_number} of {task.retries + 1}"
    if not retried:
        return f"{tries}, no further try; run {context['run_id']}"
    now = now or dt.datetime.now(dt.UTC)
    if isinstance(context.get("exception"), SourceNotReady):
        first = last = LATE_DATA_RETRY_DELAY
    else:  # Airflow's exponential backoff: between the base delay and twice it, at most max_retry_delay
        first = task.retry_delay * (task.retry_exponential_backoff or 1) ** (ti.try_number - 1)
        last = first * 2 if task.retry_exponential_backoff else first
        first, last = (min(delay, task.max_retry_delay or delay) for delay in (first, last))
    return (f"{tries}; next try in {_duration(first)}"
            + (f" to {_duration(last)}" if last != first else "")
            + f" (from {now + first:%H:%M:%S} UTC); run {context['run_id']}")


def _duration(delay: dt.timedelta) -> str:
    seconds = round(delay.total_seconds())
    return f"{seconds} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _summary(context, *, retried: bool) -> str | None:
    error, task = context.get("exception"), context["task"]
    if error is None:
        return None
    if isinstance(error, AirflowTaskTimeout):
        error = InfraError(f"{task.task_id} ran longer than its execution timeout of {task.execution_timeout} "
                           "and was stopped", kind="timeout",
                           hint="A source or service that never answers? The traceback above shows where it "
                                "waited; schedule.task_timeout_minutes in the spec sets the limit.")
    params, run = context.get("params") or {}, context.get("dag_run")
    run_date = (run.logical_date or run.run_after) if run is not None else None
    day = params.get("as_of") or params.get("start") or (run_date.date().isoformat() if run_date else "")
    model = params.get("model") or context["dag"].dag_id.split("__")[0]  # <model>__ingest, or the rollback form
    return failure_summary(error, model=model, step=task.task_id, day=day, where=where(context, retried=retried),
                           impact=impact(model, context["dag"].dag_id.rsplit("__", 1)[-1], task.task_id, params),
                           options=reproduce_options(task.task_id, params))


def reproduce_options(step: str, params) -> str:
    """What the retrain form changed for this run, as `nightshift reproduce train` options, so that the
    reproduce line fits the same model."""
    if step != "train":
        return ""
    options = [f"--train-days {params['train_days']}"] if params.get("train_days") else []
    if params.get("params"):
        options.append(f"--params {shlex.quote(json.dumps(params['params'], separators=(',', ':')))}")
    if params.get("tune"):
        options.append("--tune")
    return " ".join(options)


# Tasks that move the champion alias: one that failed may have moved it before failing.
MOVES_THE_CHAMPION = ("promote", "rollback")


def impact(model: str, dag_kind: str, task_id: str, params: dict) -> str:
    """What serves now and what this failure holds back, in one line."""
    start, end = params.get("start") or "", params.get("end") or ""
    days = f"{start} to {end}" if end and end != start else (start or "this run's days")
    held_back = {
        "ingest": f"{days} not validated: retrains and scoring go without them until they are",
        "retrain": "no new version from this run",
        "score": f"no predictions for {days}",
        "monitor": "no drift or decay check for this run",
        "release": f"{params.get('day') or 'the day'} stays quarantined",
        "rollback": "the rollback did not complete",
    }.get(dag_kind, "")
    return "; ".join(part for part in (serving(model, unchanged=task_id not in MOVES_THE_CHAMPION), held_back)
                     if part)


def serving(model: str, *, unchanged: bool) -> str:
    """Which version the champion alias names, asked for CHAMPION_LOOKUP_S at most (on a thread left behind
    if it takes longer: the task's process ends after its callbacks). A registry that is down is said, not
    waited for."""
    from concurrent.futures import ThreadPoolExecutor  # its TimeoutError is the builtin one

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="champion lookup")
    try:
        version = pool.submit(_champion_version, model).result(timeout=CHAMPION_LOOKUP_S)
    except TimeoutError:
        return f"champion not looked up (the registry did not answer within {CHAMPION_LOOKUP_S} s)"
    except Exception as err:  # noqa: BLE001 - any failure to ask is said, never raised over the task's own
        return f"champion unknown (the registry did not answer: {str(err).splitlines()[0][:120]})"
    finally:
        pool.shutdown(wait=False)
    if not version:
        return "no champion yet: nothing serves"
    return f"champion v{version} still serves, unchanged" if unchanged else f"champion v{version} serves"


def _champion_version(model: str) -> str | None:
    from nightshift.model.registry import CHAMPION, Registry

    return Registry.from_env().alias_version(model, CHAMPION)


def notify(settings: Settings, summary: str, context) -> None:
    """Send the summary through Airflow's notifiers. A notification that fails is logged, never raised:
    it must not hide the failure it reports."""
    title = summary.splitlines()[0]
    if settings.alert_emails:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        _send("email", SmtpNotifier(to=list(settings.alert_emails), from_email=settings.alert_from, subject=title,
                                    html_content=f"<pre>{html.escape(summary)}</pre>"), context)
    if settings.slack_webhook_conn_id:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        head = "\n".join(summary.splitlines()[:SLACK_LINES])
        _send("Slack", SlackWebhookNotifier(slack_webhook_conn_id=settings.slack_webhook_conn_id,
                                            text=f"```{head}```"), context)


def _send(channel: str, notifier, context) -> None:
    try:
        notifier.notify(context)
    except Exception:  # SMTP, HTTP and connection errors alike: report, and keep the task's own failure
        log.exception("could not send the failure summary by %s", channel)
