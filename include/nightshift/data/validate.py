"""Raw partition -> validated/ or quarantine/.

Each day is checked by the dataset's GX suite (`expectations.py`), for a target leaking into a feature
(`leakage.py`), and against the validated days before it (`history.py`). A day with a `block` finding
is quarantined with its rows, `report.json`, `report.txt` and GX's Data Docs page; `warn` findings are
recorded and let the day through. Suites live in `include/expectations/<dataset>.yaml`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from nightshift.data.expectations import (
    DATA_DOCS,
    Finding,
    SuiteRunner,
    data_docs_html,
    empty_column,
    findings_of,
    load_history,
    load_suite,
)
from nightshift.data.history import History, deviations
from nightshift.data.lake import Lake, content_checksum
from nightshift.data.leakage import LEAK_SCORE, find_leaks
from nightshift.data.release import release_record
from nightshift.failures import DataError
from nightshift.spec import ModelSpec

DayStatus = Literal["validated", "quarantined", "released"]  # released: kept as a reviewer released it


@dataclass
class DayVerdict:
    day: dt.date
    rows: int
    status: DayStatus = "validated"
    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partition_uri: str = ""
    data_docs_uri: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def validate_days(spec: ModelSpec, lake: Lake, days: list[dt.date], expectations_dir: Path) -> list[DayVerdict]:
    """Check each committed raw day and commit it to validated/ or quarantine/ (never both).

    Days are checked oldest first, so each day's history includes the days validated just before it.
    Idempotent: re-validating a day replaces its earlier verdict, except that a day a reviewer released
    stays released while its raw rows are unchanged.
    """
    dataset = spec.source.dataset
    runner = SuiteRunner(load_suite(expectations_dir, spec.source.suite_name))
    history = load_history(expectations_dir, spec.source.suite_name)
    history_rows: dict[dt.date, pd.DataFrame] = {}  # validated days read for history, kept for the next day
    validated = set(lake.days("validated", dataset))  # kept up to date as days are committed below
    verdicts = []
    for day in sorted(days):
        with lake.day_lock(dataset, day):  # its rows read, judged and committed as one decision
            verdict = _judge_day(spec, lake, day, runner, history, sorted(validated), history_rows)
        if verdict.failures:
            validated.discard(day)
        else:
            validated.add(day)
        verdicts.append(verdict)
    return verdicts


def _judge_day(spec: ModelSpec, lake: Lake, day: dt.date, runner: SuiteRunner, history: History | None,
               validated: list[dt.date], history_rows: dict[dt.date, pd.DataFrame]) -> DayVerdict:
    """Check the day's raw rows and commit it to validated/ or quarantine/."""
    dataset = spec.source.dataset
    frame = lake.read_partition("raw", dataset, day)
    released = lake.manifest("validated", dataset, day) or {}
    if released.get("verdict") == "released" and released["checksum"] == content_checksum(frame):
        return DayVerdict(day=day, rows=len(frame), status="released",
                          notes=[f"released by {released['released_by']}: {released['reason']}"],
                          partition_uri=lake.uri("validated", dataset, day))
    verdict = DayVerdict(day=day, rows=len(frame))
    judged_before = released or lake.manifest("quarantine", dataset, day) or {}
    if released_before := release_record(judged_before) or judged_before.get("released_before"):
        verdict.notes.append(f"released before by {released_before['released_by']} at "
                             f"{released_before['released_at']} ({released_before['reason']}); its raw rows "
                             "changed since, so it was judged afresh")
    result = runner.run(frame)
    findings = findings_of(result) + _leak_findings(spec, frame)
    if history:
        findings += _history_findings(history, lake, dataset, day, frame, verdict, validated, history_rows)
    verdict.failures = [f for f in findings if f.severity == "block"]
    verdict.warnings = [f for f in findings if f.severity == "warn"]
    verdict.status = "quarantined" if verdict.failures else "validated"
    # A day with findings from the history or leak checks alone gets the detailed page too.
    details = (result if not result.success else runner.detailed(frame)) if findings else None
    _commit(lake, dataset, day, frame, verdict, data_docs_html(details) if details else None, released_before)
    return verdict


def _history_findings(history: History, lake: Lake, dataset: str, day: dt.date, frame: pd.DataFrame,
                      verdict: DayVerdict, validated: list[dt.date],
                      cache: dict[dt.date, pd.DataFrame]) -> list[Finding]:
    window = history.window(day, validated)
    if len(window) < history.min_days:
        verdict.notes.append(f"history checks skipped: {len(window)} validated days in the previous "
                             f"{history.window_days} (need {history.min_days})")
        return []
    for past_day in window:
        if past_day not in cache:
            cache[past_day] = lake.read_days("validated", dataset, [past_day], columns=history.columns or None)
    past = pd.concat([cache[past_day] for past_day in window], ignore_index=True)
    return [Finding(expectation=f"history:{check.type}", column=measure.column, severity=check.severity,
                    unexpected_count=None, unexpected_percent=None, sample=measure.sample,
                    why=f"{measure.explanation}, over {len(window)} days" + (f"; {check.why}" if check.why else ""))
            for check, measure in deviations(history, day, frame, past)]


def _leak_findings(spec: ModelSpec, frame: pd.DataFrame) -> list[Finding]:
    return [Finding(expectation="leak:target_in_feature", column=leak.column, severity="block",
                    unexpected_count=None, unexpected_percent=None, sample=[],
                    why=f"alone predicts the target {spec.target.column!r} with {leak.measure} {leak.score:.3f} "
                        f"(limit {LEAK_SCORE}): the outcome is leaking into this feature upstream")
            for leak in find_leaks(spec, frame)]


def _commit(lake: Lake, dataset: str, day: dt.date, frame, verdict: DayVerdict, data_docs: str | None,
            released_before: dict | None) -> None:
    """Write the day and its reports to validated/ or quarantine/, then take it out of the other zone. A
    day released before keeps that record in its manifest (`released_before`)."""
    zone, other = ("quarantine", "validated") if verdict.failures else ("validated", "quarantine")
    verdict.partition_uri = lake.uri(zone, dataset, day)
    attachments = {"report.json": verdict.to_json(), "report.txt": findings_table([verdict])}
    if data_docs:
        attachments[DATA_DOCS] = data_docs
    history = {"released_before": released_before} if released_before else {}
    lake.write_partition(zone, dataset, day, frame, attachments=attachments, verdict=verdict.status,
                         warnings=len(verdict.warnings), **history)
    if data_docs:
        verdict.data_docs_uri = lake.file_uri(zone, dataset, day, DATA_DOCS)
    lake.remove_partition(other, dataset, day)


def findings_table(verdicts: list[DayVerdict]) -> str:
    """A plain-text table of every failure and warning, for task logs and quarantine reports."""
    header = f"{'day':<10}  {'severity':<8}  {'expectation':<42}  {'column':<14}  {'unexpected':>10}  {'%':>6}  sample"
    lines = [header, "-" * len(header)]
    for verdict in verdicts:
        for f in [*verdict.failures, *verdict.warnings]:
            pct = "" if f.unexpected_percent is None else f"{f.unexpected_percent:.1f}"
            count = "" if f.unexpected_count is None else str(f.unexpected_count)
            lines.append(
                f"{verdict.day.isoformat():<10}  {f.severity:<8}  {f.expectation:<42}  {f.column:<14}  "
                f"{count:>10}  {pct:>6}  {f.sample}{'  (' + f.why + ')' if f.why else ''}"
            )
        if verdict.data_docs_uri:
            lines.append(f"{verdict.day.isoformat():<10}  data docs: {verdict.data_docs_uri}")
    return "\n".join(lines)


def raise_if_quarantined(spec: ModelSpec, verdicts: list[DayVerdict]) -> None:
    """Turn quarantined days into one DataError: the good days are already committed. The advice follows the
    findings: a day with a column missing or all null must be fixed upstream, never released."""
    bad = [v for v in verdicts if v.status == "quarantined"]
    if not bad:
        return
    failures = [f for v in bad for f in v.failures]
    missing = sorted({column for f in failures for column in f.missing_columns})
    empty = sorted({f.column for f in failures if empty_column(f)})
    reingest = (f"re-ingest the day{'s' if len(bad) > 1 else ''} (the {spec.name}__ingest DAG's form, or "
                f"`nightshift reproduce {spec.name} ingest_raw <day>`)")
    problem = "; ".join(f"column{'s' if len(columns) > 1 else ''} {', '.join(columns)} {state}"
                        for columns, state in ((missing, "missing"), (empty, "all null")) if columns)
    if problem:
        hint = (f"The source broke upstream ({problem}). Fix the source, or the spec and its suite if the change "
                f"is meant, then {reingest}. Do not release the day: training and scoring read those columns.")
    else:
        hint = (f"Open the Data Docs page of each day (paths above). If the upstream data was wrong, fix it and "
                f"{reingest}; if the day is real but unusual, release it: `nightshift release {spec.name} <day> "
                f"--reason ...` or the {spec.name}__release DAG.")
    read = ", ".join(f"{v.day}: {v.rows:,} rows" for v in bad)
    raise DataError(f"{_quarantined(bad, len(verdicts), spec.source.dataset, f': {problem}' if problem else '')}\n"
                    f"read from {spec.source.describe()} ({read})",
                    kind="expectations", evidence=findings_table(bad), hint=hint)


def _quarantined(bad: list[DayVerdict], judged: int, dataset: str, problem: str) -> str:
    """Which days were quarantined and why, said truly for one day or many, some or all."""
    days = ", ".join(v.day.isoformat() for v in bad)
    if judged == 1:
        return f"{days} quarantined for {dataset}{problem} (no other day in this run)"
    if len(bad) == judged:
        return f"all {judged} days of this run quarantined for {dataset} ({days}){problem}"
    rest = judged - len(bad)
    return (f"{len(bad)} of {judged} days quarantined for {dataset} ({days}){problem}; the other {rest} "
            f"{'was' if rest == 1 else 'were'} validated")
