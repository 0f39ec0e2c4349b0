"""Raw partition -> validated/ or quarantine/, by the dataset's Great Expectations suite.

A day that fails a `block` expectation is quarantined with its original rows and a report
(which expectations failed, on which column, how many rows, sample values); `warn` expectations
are recorded and let the day through. Suites live in `include/expectations/<dataset>.yaml`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from nightshift.failures import DataError
from nightshift.lake import Lake, content_checksum
from nightshift.history import History, deviations
from nightshift.leakage import LEAK_SCORE, find_leaks
from nightshift.spec import ModelSpec, SpecError, explain

SEVERITIES = ("block", "warn")
DATA_DOCS = "data_docs.html"
# GX logs at INFO and draws tqdm bars on stderr; quiet both before it is imported so the
# failure summary stays readable at the end of the task log.
for _logger in ("great_expectations", "great_expectations.data_context.types.base"):
    logging.getLogger(_logger).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Finding:
    expectation: str
    column: str
    severity: str
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[Any]
    why: str = ""


@dataclass
class DayVerdict:
    day: str
    rows: int
    status: str = "validated"  # or "quarantined", or "released" (kept as a reviewer released it)
    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partition_uri: str = ""
    data_docs_uri: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def _suite_file(expectations_dir: Path, dataset: str) -> tuple[Path, dict]:
    path = expectations_dir / f"{dataset}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read the expectation suite: {err}", kind="suite") from err
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a suite is a YAML mapping with `expectations` (and `history`)", kind="suite")
    return path, data


def load_history(expectations_dir: Path, dataset: str) -> History | None:
    """The suite file's `history:` checks, if it declares any."""
    path, data = _suite_file(expectations_dir, dataset)
    if "history" not in data:
        return None
    try:
        return History.model_validate(data["history"])
    except ValidationError as err:
        raise SpecError(f"{path}: invalid history checks\n{explain(err)}", kind="suite") from None


def load_suite(expectations_dir: Path, dataset: str):
    """The dataset's GX suite; a misspelled expectation or bad severity is an error, not a silent drop."""
    import great_expectations as gx

    path, data = _suite_file(expectations_dir, dataset)
    data = {key: value for key, value in data.items() if key != "history"}
    declared = data.get("expectations", [])
    for number, entry in enumerate(declared, 1):
        severity = (entry.get("meta") or {}).get("severity", "block")
        if severity not in SEVERITIES:
            raise SpecError(f"{path}: expectation {number}: severity {severity!r}; allowed: {SEVERITIES}")
    try:
        suite = gx.ExpectationSuite(**data)
    except Exception as err:  # GX raises many types for a bad kwarg; all mean the file is wrong
        raise SpecError(f"{path}: invalid expectation suite: {err}", kind="suite") from err
    if len(suite.expectations) != len(declared):
        known = {type(e).__name__ for e in suite.expectations}
        raise SpecError(
            f"{path}: {len(declared) - len(suite.expectations)} expectation(s) not recognised by GX "
            f"(misspelled type?); recognised: {sorted(known)}", kind="suite")
    return suite


class SuiteRunner:
    """One ephemeral GX context and validation definition, reused for every partition a task validates."""

    def __init__(self, suite) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.suite = suite
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("nightshift").add_dataframe_asset("partition")
        # A ValidationDefinition fetches (and hashes) the batch once; batch.validate does it twice.
        self._definition = gx.ValidationDefinition(
            name="partition", data=asset.add_batch_definition_whole_dataframe("whole"),
            suite=context.suites.add(suite))

    def run(self, frame):
        """The suite's result on `frame`: one pass, with counts and a few sample values per expectation."""
        return self._definition.run(batch_parameters={"dataframe": frame},
                                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})

    def findings(self, frame) -> list[Finding]:
        return findings_of(self.run(frame))


def findings_of(result) -> list[Finding]:
    """Every expectation that did not pass."""
    found = [_finding(item) for item in result.results if not item.success]
    return sorted(found, key=lambda f: (f.severity, f.expectation, f.column))


def data_docs_html(result) -> str:
    """GX's Data Docs page for one validation result, as a single HTML document."""
    import numpy as np
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    for item in result.results:
        # GX's renderer rejects numpy scalars (a column mean, say) and logs a long traceback instead.
        if isinstance(observed := (item.result or {}).get("observed_value"), np.generic):
            item.result["observed_value"] = observed.item()
    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))


def _finding(item) -> Finding:
    config, details, meta = item.expectation_config, item.result or {}, item.expectation_config.meta or {}
    mismatched = details.get("details", {}).get("mismatched", {})  # a column set: what is missing or extra
    return Finding(
        expectation=config.type,
        column=config.kwargs.get("column", ""),
        severity=meta.get("severity", "block"),
        unexpected_count=details.get("unexpected_count", None if mismatched else details.get("observed_value")),
        unexpected_percent=details.get("unexpected_percent"),
        sample=[_shorten(value) for value in details.get("partial_unexpected_list", [])[:5]],
        why=_raised(item.exception_info) or "; ".join(f"{key}: {value}" for key, value in mismatched.items() if value)
            or meta.get("why", ""),
    )


def _shorten(value: Any) -> Any:
    """Sample values go into logs and reports: a 5 MB string is cut, everything else kept as is."""
    return value if not isinstance(value, str) or len(value) <= 60 else f"{value[:60]}... ({len(value)} chars)"


def _raised(info) -> str | None:
    """Why GX could not evaluate an expectation (a missing column, say). exception_info is either one
    record or a dict of records keyed by metric."""
    records = [info] if "raised_exception" in (info or {}) else list((info or {}).values())
    return next((r.get("exception_message") for r in records if isinstance(r, dict) and r.get("raised_exception")),
                None)


def validate_days(spec: ModelSpec, lake: Lake, days: list[dt.date], expectations_dir: Path) -> list[DayVerdict]:
    """Check each committed raw day and commit it to validated/ or quarantine/ (never both).

    Days are checked oldest first, so each day's history includes the days validated just before it.
    Idempotent: re-validating a day replaces its earlier verdict, except that a day a reviewer released
    stays released while its raw rows are unchanged.
    """
    dataset = spec.source.dataset
    runner = SuiteRunner(load_suite(expectations_dir, dataset))
    history = load_history(expectations_dir, dataset)
    history_rows: dict[dt.date, pd.DataFrame] = {}  # validated days read for history, kept for the next day
    verdicts = []
    for day in sorted(days):
        frame = lake.read_partition("raw", dataset, day)
        released = lake.manifest("validated", dataset, day) or {}
        if released.get("verdict") == "released" and released["checksum"] == content_checksum(frame):
            verdicts.append(DayVerdict(day=day.isoformat(), rows=len(frame), status="released",
                                       notes=[f"released by {released['released_by']}: {released['reason']}"],
                                       partition_uri=lake.uri("validated", dataset, day)))
            continue
        verdict = DayVerdict(day=day.isoformat(), rows=len(frame))
        result = runner.run(frame)
        findings = findings_of(result) + _leak_findings(spec, frame)
        if history:
            findings += _history_findings(history, lake, dataset, day, frame, verdict, history_rows)
        verdict.failures = [f for f in findings if f.severity == "block"]
        verdict.warnings = [f for f in findings if f.severity == "warn"]
        verdict.status = "quarantined" if verdict.failures else "validated"
        _commit(lake, dataset, day, frame, verdict, data_docs_html(result) if findings else None)
        verdicts.append(verdict)
    return verdicts


def _history_findings(history: History, lake: Lake, dataset: str, day: dt.date, frame: pd.DataFrame,
                      verdict: DayVerdict, cache: dict[dt.date, pd.DataFrame]) -> list[Finding]:
    window = history.window(day, lake.days("validated", dataset))
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


def _commit(lake: Lake, dataset: str, day: dt.date, frame, verdict: DayVerdict, data_docs: str | None) -> None:
    """Write the day and its reports to validated/ or quarantine/, then take it out of the other zone."""
    zone, other = ("quarantine", "validated") if verdict.failures else ("validated", "quarantine")
    verdict.partition_uri = lake.uri(zone, dataset, day)
    attachments = {"report.json": verdict.to_json(), "report.txt": findings_table([verdict])}
    if data_docs:
        attachments[DATA_DOCS] = data_docs
    lake.write_partition(zone, dataset, day, frame, attachments=attachments, verdict=verdict.status,
                         warnings=len(verdict.warnings))
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
                f"{verdict.day:<10}  {f.severity:<8}  {f.expectation:<42}  {f.column:<14}  "
                f"{count:>10}  {pct:>6}  {f.sample}{'  (' + f.why + ')' if f.why else ''}"
            )
        if verdict.data_docs_uri:
            lines.append(f"{verdict.day:<10}  data docs: {verdict.data_docs_uri}")
    return "\n".join(lines)


def raise_if_quarantined(spec: ModelSpec, verdicts: list[DayVerdict]) -> None:
    """Turn quarantined days into one DataError: the good days are already committed."""
    bad = [v for v in verdicts if v.status == "quarantined"]
    if not bad:
        return
    raise DataError(
        f"{len(bad)} of {len(verdicts)} days quarantined for {spec.source.dataset}: "
        f"{', '.join(v.day for v in bad)}; the other days were validated",
        kind="expectations",
        evidence=findings_table(bad),
        hint="Open the Data Docs page of each day (paths above). If the upstream data was wrong, fix it and "
             "re-ingest the day; if the day is real but unusual, release it: "
             f"`nightshift release {spec.name} <day> --reason ...` or the {spec.name}__release DAG.",
    )
