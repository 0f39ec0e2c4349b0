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

import yaml

from nightshift.failures import DataError
from nightshift.lake import Lake
from nightshift.spec import ModelSpec, SpecError

SEVERITIES = ("block", "warn")
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
    status: str = "validated"  # or "quarantined"
    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    partition_uri: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def load_suite(expectations_dir: Path, dataset: str):
    """The dataset's suite; a misspelled expectation or bad severity is an error, not a silent drop."""
    import great_expectations as gx

    path = expectations_dir / f"{dataset}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read the expectation suite: {err}", kind="suite") from err
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
    """One ephemeral GX context, reused for every partition a task validates."""

    def __init__(self, suite) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.suite = suite
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("nightshift").add_dataframe_asset("partition")
        self._batches = asset.add_batch_definition_whole_dataframe("whole")

    def findings(self, frame) -> list[Finding]:
        """Every expectation that did not pass, with counts and a few sample values."""
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(self.suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
        found = [_finding(item) for item in result.results if not item.success]
        return sorted(found, key=lambda f: (f.severity, f.expectation, f.column))


def _finding(item) -> Finding:
    config, details, meta = item.expectation_config, item.result or {}, item.expectation_config.meta or {}
    # When GX cannot evaluate an expectation (a missing column, say), the reason sits in exception_info,
    # keyed by metric.
    raised = next((info.get("exception_message") for info in (item.exception_info or {}).values()
                   if isinstance(info, dict) and info.get("raised_exception")), None)
    return Finding(
        expectation=config.type,
        column=config.kwargs.get("column", ""),
        severity=meta.get("severity", "block"),
        unexpected_count=details.get("unexpected_count", details.get("observed_value")),
        unexpected_percent=details.get("unexpected_percent"),
        sample=list(details.get("partial_unexpected_list", []))[:5],
        why=raised or meta.get("why", ""),
    )


def validate_days(spec: ModelSpec, lake: Lake, days: list[dt.date], expectations_dir: Path) -> list[DayVerdict]:
    """Check each committed raw day and commit it to validated/ or quarantine/ (never both).

    Idempotent: re-validating a day replaces its earlier verdict.
    """
    dataset = spec.source.dataset
    runner = SuiteRunner(load_suite(expectations_dir, dataset))
    verdicts = []
    for day in sorted(days):
        frame = lake.read_partition("raw", dataset, day)
        findings = runner.findings(frame)
        verdict = DayVerdict(
            day=day.isoformat(),
            rows=len(frame),
            failures=[f for f in findings if f.severity == "block"],
            warnings=[f for f in findings if f.severity == "warn"],
        )
        verdict.status = "quarantined" if verdict.failures else "validated"
        _commit(lake, dataset, day, frame, verdict)
        verdicts.append(verdict)
    return verdicts


def _commit(lake: Lake, dataset: str, day: dt.date, frame, verdict: DayVerdict) -> None:
    zone, other = ("quarantine", "validated") if verdict.failures else ("validated", "quarantine")
    verdict.partition_uri = lake.uri(zone, dataset, day)
    attachments = {"report.json": verdict.to_json(), "report.txt": findings_table([verdict])}
    lake.write_partition(zone, dataset, day, frame, attachments=attachments, verdict=verdict.status,
                         warnings=len(verdict.warnings))
    lake.remove_partition(other, dataset, day)


def findings_table(verdicts: list[DayVerdict]) -> str:
    """A plain-text table of every failure and warning, for task logs and quarantine reports."""
    header = f"{'day':<10}  {'severity':<8}  {'expectation':<42}  {'column':<14}  {'unexpected':>10}  {'%':>6}  sample"
    lines = [header, "-" * len(header)]
    for verdict in verdicts:
        for f in [*verdict.failures, *verdict.warnings]:
            pct = "" if f.unexpected_percent is None else f"{f.unexpected_percent:.1f}"
            lines.append(
                f"{verdict.day:<10}  {f.severity:<8}  {f.expectation:<42}  {f.column:<14}  "
                f"{str(f.unexpected_count):>10}  {pct:>6}  {f.sample}{'  (' + f.why + ')' if f.why else ''}"
            )
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
        evidence=findings_table(bad) + "\nreports: " + ", ".join(f"{v.partition_uri}/report.txt" for v in bad),
        hint="Read the report beside each quarantined partition. If the upstream data was wrong, fix it "
             "and re-ingest the day; if the day is real but unusual, it stays out of training.",
    )
