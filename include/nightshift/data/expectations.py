"""A dataset's checks as code: the GX 1.x suite and the history checks, read from
`include/expectations/<dataset>.yaml` (or the spec's `source.suite`); the suite run once per partition;
its findings; its Data Docs page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from operator import attrgetter
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from nightshift.data.history import History
from nightshift.spec import SpecError, read_yaml
from nightshift.spec_errors import explain

SEVERITIES = ("block", "warn")
DATA_DOCS = "data_docs.html"


def _quiet_gx() -> None:
    """GX logs at INFO (as it is imported, and a temp-dir line per context) and draws tqdm bars on stderr.
    Quieted before its import and again after it (which resets a logger's level), for the failure summary
    to stay readable at the end of the task log."""
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)


_quiet_gx()


@dataclass(frozen=True)
class Finding:
    expectation: str
    column: str
    severity: str
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[Any]
    why: str = ""
    missing_columns: tuple[str, ...] = ()  # a table-level check: columns the table lacks


def _suite_file(expectations_dir: Path, name: str) -> tuple[Path, dict]:
    path = expectations_dir / f"{name}.yaml"
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read the expectation suite: {err}", kind="suite") from err
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a suite is a YAML mapping with `expectations` (and `history`)", kind="suite")
    return path, data


def load_history(expectations_dir: Path, name: str) -> History | None:
    """The suite file's `history:` checks, if it declares any."""
    path, data = _suite_file(expectations_dir, name)
    if "history" not in data:
        return None
    try:
        return History.model_validate(data["history"])
    except ValidationError as err:
        raise SpecError(f"{path}: invalid history checks\n{explain(err, History)}", kind="suite") from None


def load_suite(expectations_dir: Path, name: str):
    """The named GX suite (`source.suite_name`); a misspelled expectation or bad severity is an error, not
    a silent drop."""
    import great_expectations as gx

    path, data = _suite_file(expectations_dir, name)
    data = {key: value for key, value in data.items() if key != "history"}
    declared = data.get("expectations", [])
    if not isinstance(declared, list):
        raise SpecError(f"{path}: expectations: must be a list of entries, got {type(declared).__name__} "
                        f"{_shorten(repr(declared))}", kind="suite")
    for number, entry in enumerate(declared, 1):
        if not isinstance(entry, dict):
            raise SpecError(f"{path}: expectation {number}: must be a mapping with a `type` and `kwargs`, got "
                            f"{_shorten(repr(entry))}", kind="suite")
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

        _quiet_gx()
        self.suite = suite
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("nightshift").add_dataframe_asset("partition")
        # A ValidationDefinition fetches (and hashes) the batch once; batch.validate does it twice.
        self._definition = gx.ValidationDefinition(
            name="partition", data=asset.add_batch_definition_whole_dataframe("whole"),
            suite=context.suites.add(suite))

    def run(self, frame):
        """The suite's result on `frame`. First only whether each expectation holds (GX's BOOLEAN_ONLY: about
        half the time of counting, and most days pass); when one fails, the detailed result."""
        quick = self._definition.run(batch_parameters={"dataframe": frame}, result_format="BOOLEAN_ONLY")
        return quick if quick.success else self.detailed(frame)

    def detailed(self, frame):
        """The suite's result on `frame` with counts, observed values and a few sample values per expectation
        (what a failure report and a Data Docs page show)."""
        return self._definition.run(batch_parameters={"dataframe": frame},
                                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})


def findings_of(result) -> list[Finding]:
    """Every expectation that did not pass, the ones that explain the others first. A column missing from
    the table, or one that holds no value at all, is a root cause: it comes first and takes in the findings
    that follow from it (on an absent column GX raises "list index out of range" or "... does not exist"; an
    all-null column has the float64 type)."""
    found = sorted((_finding(item) for item in result.results if not item.success),
                   key=attrgetter("severity", "expectation", "column"))
    roots = [f for f in found if broken_columns(f)]
    rest = [f for f in found if f not in roots]
    for index, root in enumerate(roots):
        columns = broken_columns(root)
        explained = [f for f in rest if f.column in columns or any(f'"{column}"' in f.why for column in columns)]
        if explained:
            rest = [f for f in rest if f not in explained]
            names = ", ".join(f"{f.expectation}({f.column})" if f.column else f.expectation for f in explained)
            roots[index] = replace(root, why=f"{root.why}; so {len(explained)} more failed: {names}".lstrip("; "))
    return roots + rest


def broken_columns(finding: Finding) -> tuple[str, ...]:
    """The columns a finding shows broken, which explain the other findings on them: those missing from the
    table, or its own column when every value of it is null."""
    return (finding.column,) if empty_column(finding) else finding.missing_columns


def empty_column(finding: Finding) -> bool:
    """Whether the finding shows its column without a single value."""
    return finding.expectation == "expect_column_values_to_not_be_null" and finding.unexpected_percent == 100


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
        missing_columns=tuple(mismatched.get("missing") or ()),
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
