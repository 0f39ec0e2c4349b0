"""Model specs: one YAML file declares a model completely; validated on load.

Defaults live here and nowhere else. A bad spec fails with `SpecError` naming the file, the key and
what is allowed, before any work starts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nightshift.expressions import check_expression
from nightshift.failures import ConfigError, ModelError
from nightshift.model.families import EstimatorName, check_params
from nightshift.spec_errors import explain

NAME = r"^[a-z][a-z0-9_]{0,62}$"
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
# libyaml's safe loader where PyYAML has it (7x faster: every DAG parse reads every spec); both build
# plain data only, never Python objects.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
RULE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
# The direction of each metric the gate knows: True when higher is better.
METRICS: dict[str, dict[str, bool]] = {
    "classification": {"roc_auc": True, "log_loss": False, "accuracy": True, "brier": False},
    "regression": {"rmse": False, "mae": False, "r2": True},
    "multiclass": {"roc_auc": True, "log_loss": False, "accuracy": True, "f1_macro": True},
}



def check_rule(value: str | None) -> str | None:
    """A comparison that makes a label, such as '> 15'."""
    if value is not None and not RULE.match(value):
        raise ValueError(f"{value!r} is not '<op> <number>' with op one of > >= < <= == !=")
    return value


class SpecError(ModelError):
    """A model spec or expectation suite that cannot be used as written."""


def check_name(value: object, what: str) -> str:
    """`value`, if it is a NAME: model, dataset and lookup names become file names, lake keys and registry
    names, so nothing else (`../x`, `a/b`, `x.yaml`) is accepted. SpecError names the value otherwise."""
    if not isinstance(value, str) or not re.fullmatch(NAME, value):
        raise SpecError(f"{what} name {value!r} is not allowed: use 1-63 lowercase letters, digits and '_', "
                        "starting with a letter")
    return value


def spec_path(models_dir: Path, model: str) -> Path:
    """The spec file of `model` in models_dir; a model name that could point elsewhere is refused."""
    return models_dir / f"{check_name(model, 'model')}.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where a dataset's rows come from: files (`path`) or a PostgreSQL table or query (`conn_id`)."""

    dataset: str = Field(pattern=NAME)
    suite: str | None = Field(None, pattern=NAME,
                              description="the expectation suite's name, if not the dataset's (a copy of a table)")
    kind: Literal["files", "postgres"] = "files"
    path: str | None = Field(None, min_length=1,
                             description="files: path, glob or URI (file://, s3://, package://<pkg>/<file>)")
    format: Literal["csv", "parquet"] | None = Field(None, description="files: inferred from the name if not given")
    conn_id: str | None = Field(None, min_length=1, description="postgres: the Airflow connection id")
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    query: str | None = Field(None, min_length=1, description="postgres: a SELECT, instead of a table")
    date_columns: list[str] = Field(min_length=1, max_length=3)
    start_date: dt.date

    @field_validator("date_columns")
    @classmethod
    def _one_or_three(cls, value: list[str]) -> list[str]:
        if len(value) == 2:
            raise ValueError("give one date/timestamp column, or three columns [year, month, day]")
        return value

    @field_validator("query")
    @classmethod
    def _one_statement(cls, value: str | None) -> str | None:
        # The query is read as a subquery, `SELECT * FROM (<query>) AS source WHERE <date range>`: a ';'
        # can only end it early and start another statement (`...); DELETE ...; COMMIT; ...`).
        if value is not None and ";" in value:
            raise ValueError("a source query is one SELECT, without ';' (it is read as a subquery)")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.kind == "files" and (self.path is None or self.conn_id or self.table or self.query):
            raise ValueError("a files source takes `path` (and `format`), not conn_id/table/query")
        if self.kind == "postgres":
            if not self.conn_id or (self.table is None) == (self.query is None) or self.path or self.format:
                raise ValueError("a postgres source takes `conn_id` and exactly one of `table` or `query`")
            if len(self.date_columns) != 1:
                raise ValueError("a postgres source takes one date or timestamp column in date_columns")
        return self

    @property
    def suite_name(self) -> str:
        """Which `<expectations>/<name>.yaml` checks the dataset's days."""
        return self.suite or self.dataset

    def describe(self) -> str:
        """Where the rows come from, for messages and manifests."""
        if self.kind == "files":
            return self.path
        return f"postgres:{self.conn_id}/{self.table or 'query'}"


DURATION = re.compile(r"^\s*(\d+)\s*(s|min|h|d)\s*$")
DURATION_UNITS = {"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}


class AsOf(_Strict):
    """Join each row to the lookup's latest row at or before the row's time (among rows with equal keys),
    never a later one: what was known at the time."""

    event_time: str = Field(min_length=1, description="the rows' time column")
    lookup_time: str = Field(min_length=1, description="the lookup table's time column")
    tolerance: str | None = Field(None, description="an older lookup row is no match: '30s', '90min', '3h', '2d'")

    @field_validator("tolerance")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and not DURATION.match(value):
            raise ValueError("must be a duration such as '30s', '90min', '3h' or '2d'")
        return value

    @property
    def max_age(self) -> dt.timedelta | None:
        """The tolerance as a duration."""
        if self.tolerance is None:
            return None
        found = DURATION.match(self.tolerance)
        return dt.timedelta(**{DURATION_UNITS[found[2]]: int(found[1])})


class Lookup(_Strict):
    name: str = Field(pattern=NAME)
    path: str = Field(min_length=1)
    keys: list[str] = Field(description="join columns, equal names on both sides (as_of: besides the time)")
    columns: dict[str, str] = Field(min_length=1, description="lookup column -> feature column name")
    as_of: AsOf | None = Field(None, description="join the latest row at or before the row's time")

    @model_validator(mode="after")
    def _joined_somehow(self) -> Lookup:
        if not self.keys and self.as_of is None:
            raise ValueError("keys: give at least one join column (or as_of, to join on time alone)")
        return self


AGGREGATIONS = ("count", "sum", "mean", "median", "std", "rate")


class Aggregate(_Strict):
    """A rolling aggregate over the dataset's own validated history: a row of day D gets the aggregation of
    `column` over the rows of its group (`by`) in the `window_days` days that end `lag_days` before D.
    The default lag of 1 reads only days strictly before the row's own day."""

    by: list[str] = Field(min_length=1, description="group columns of the dataset")
    agg: Literal[AGGREGATIONS]
    column: str | None = Field(None, description="the aggregated column (count: rows with a value; "
                                                 "without it, rows)")
    rule: str | None = Field(None, description="rate: the comparison that counts a row, e.g. '> 15'; on the "
                                               "target column, the target's own label without it")
    window_days: int = Field(ge=1, le=366)
    lag_days: int = Field(1, ge=0, le=366, description="days between the window's end and the row's day")
    min_rows: int = Field(1, ge=1, description="fewer values in the window and the value is missing (not a "
                                               "count's)")

    _rule = field_validator("rule")(check_rule)

    @model_validator(mode="after")
    def _column_when_needed(self) -> Aggregate:
        if self.column is None and self.agg != "count":
            raise ValueError(f"column: a {self.agg} aggregates a column; only count can go without")
        if self.rule is not None and self.agg != "rate":
            raise ValueError(f"rule: only a rate takes a rule, this aggregation is {self.agg}")
        return self

    def history_days(self) -> tuple[int, int]:
        """(first, last): the window as days before the row's day."""
        return self.lag_days + self.window_days - 1, self.lag_days


class Target(_Strict):
    column: str
    rule: str | None = Field(None, description="comparison that makes the label, e.g. '> 15'")
    missing: Literal["drop", "positive", "negative"] = "drop"
    # multiclass: the labels a model learns, in this order; by default every label of the training window
    # with at least min_class_rows rows, sorted. A version records the classes it learned.
    classes: list[str] | None = Field(None, min_length=2)
    min_class_rows: int = Field(20, ge=1, description="multiclass: fewer training rows and a class is left out")

    @field_validator("classes")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must be distinct")
        return value

    @property
    def label(self) -> dict:
        """What makes the label (column, rule, missing): equal for two targets whose labels mean the same,
        whichever classes each version learned."""
        return self.model_dump(exclude={"classes", "min_class_rows"})

    _rule = field_validator("rule")(check_rule)


class Features(_Strict):
    aggregates: dict[str, Aggregate] = Field(default_factory=dict, description="name -> rolling aggregate; each "
                                             "also gives `<name>_rows`, how many values its window held")
    derived: dict[str, str] = Field(default_factory=dict, description="name -> pandas expression")
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)

    @field_validator("derived")
    @classmethod
    def _safe_expressions(cls, value: dict[str, str]) -> dict[str, str]:
        for name, expression in value.items():
            try:
                check_expression(expression)
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
        return value

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def aggregate_groups(self) -> dict[str, list[str]]:
        """The aggregates' names by their `by` columns, comma-joined: those with the same ones share a table."""
        found: dict[str, list[str]] = {}
        for name, aggregate in self.aggregates.items():
            found.setdefault(",".join(aggregate.by), []).append(name)
        return found


def rows_column(aggregate: str) -> str:
    """The column that says how many values (history rows with one) an aggregate's window held for a row."""
    return f"{aggregate}_rows"


Param = int | float | str | bool | None


class Candidate(_Strict):
    """Another family and its parameters, compared with the spec's own model when tuning."""

    estimator: EstimatorName
    params: dict[str, Param] = Field(default_factory=dict)


class SearchRange(_Strict):
    """One parameter's search space: numbers from low to high (integers when both are; log-uniform with
    log), or one of the choices."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: list[Param] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> SearchRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("give choices, or low and high (and log), not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high, or choices")
        if self.low >= self.high:
            raise ValueError("low must be below high")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class Search(_Strict):
    """Tuning the spec's estimator: its parameters drawn from `space` (Optuna's TPE sampler, seeded by
    model.seed), at most `trials` fits, and none started after `budget_minutes` of tuning (the spec's own
    model and the candidates included)."""

    space: dict[str, SearchRange] = Field(min_length=1)
    trials: int = Field(20, ge=1, le=10_000)
    budget_minutes: float = Field(10, gt=0, le=24 * 60)


class ModelConfig(_Strict):
    estimator: EstimatorName = Field("hist_gradient_boosting",
                                     description="the family: see nightshift.model.families")
    custom: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                               description="'package.module:function' called with the spec, returning an unfitted "
                                           "scikit-learn estimator or Pipeline; instead of a family")
    params: dict[str, Param] = Field(default_factory=dict)
    seed: int = 0
    candidates: list[Candidate] = Field(default_factory=list,
                                        description="other families compared with this one when tuning")
    search: Search | None = None
    trusted_modules: list[str] = Field(default_factory=list,
                                       description="modules whose types a stored model may hold, beyond the "
                                                   "families' and the custom function's own module")

    @property
    def builder(self) -> str:
        """What builds the model: the custom function, else the family."""
        return self.custom or self.estimator

    @property
    def tuned(self) -> bool:
        """Whether retrains compare candidates or search (see nightshift.model.tuning)."""
        return bool(self.candidates or self.search)

    @model_validator(mode="after")
    def _one_model(self) -> ModelConfig:
        if self.custom and "estimator" in self.model_fields_set:
            raise ValueError("give estimator (a family) or custom (your function), not both")
        return self


class Windows(_Strict):
    train_days: int = Field(ge=1, le=3660)
    holdout_days: int = Field(ge=1, le=366)
    validation_days: int = Field(7, ge=1, le=366, description="tuning: the newest training days, which judge the "
                                                              "trials (the holdout stays unseen)")


class Monitoring(_Strict):
    window_days: int = Field(7, ge=1, le=366, description="recent validated days compared with the training window")
    label_delay_days: int = Field(1, ge=0, description="labels of a day are known this many days after it")
    max_psi: float = Field(0.25, gt=0, description="per feature, and for the predictions")
    max_ks: float = Field(0.2, gt=0, le=1, description="Kolmogorov-Smirnov statistic, per numeric feature")
    max_metric_drop: float = Field(0.03, ge=0, description="realized primary metric below the holdout's, by this much")
    expected_drift: list[str] = Field(default_factory=list,
                                      description="features whose drift is reported but is no decay signal")


class Scoring(_Strict):
    id_columns: list[str] = Field(default_factory=list,
                                  description="source columns that identify a row; kept beside each prediction")


class CanaryBudget(_Strict):
    """When the canary stops itself: over its last `window` requests, once it has served `min_requests`."""

    max_error_rate: float = Field(0.01, ge=0, le=1, description="share of canary requests whose prediction failed")
    max_p99_ms: float = Field(100, gt=0, description="99th percentile of the challenger's predict time, in ms")
    min_requests: int = Field(100, ge=1, description="canary requests before the budget is judged")
    window: int = Field(1000, ge=10, le=100_000, description="the most recent canary requests judged")


class Serving(_Strict):
    """`nightshift serve`: how the online server routes requests and logs them for monitoring."""

    canary_percent: float = Field(0, ge=0, le=100, description="share of request rows the challenger answers")
    canary_key: list[str] = Field(default_factory=list, description="columns whose hash picks the canary rows, so "
                                  "one entity sees one model; default scoring.id_columns")
    shadow: bool = Field(False, description="the challenger also scores every request, off the request path")
    canary_budget: CanaryBudget = CanaryBudget()
    poll_seconds: float = Field(10, gt=0, le=3600, description="how often the registry's aliases are read")
    max_batch_rows: int = Field(1000, ge=1, le=1_000_000, description="larger requests get 413")
    log_flush_seconds: float = Field(10, gt=0, le=3600, description="logged predictions reach the lake this often")
    log_flush_rows: int = Field(10_000, ge=1, description="...or once this many rows wait")

    @property
    def follows_challenger(self) -> bool:
        return self.canary_percent > 0 or self.shadow


class Schedule(_Strict):
    ingest: str = "0 4 * * *"
    retrain: str = "0 2 * * *"
    monitor: str = "0 6 * * *"
    ingest_chunk_days: int = Field(31, ge=1, le=366, description="days per ingest task instance")
    task_timeout_minutes: int = Field(60, ge=1, le=24 * 60,
                                      description="a task try running longer is stopped (a hung source, say)")
    retry_delay_seconds: int = Field(30, ge=1, le=600,  # Airflow caps backed-off delays at 10 minutes
                                     description="wait before a failed try's first retry; doubles with each retry")
    tune: str | None = Field(None, description="cron: the first retrain after each tick compares candidates and "
                                               "searches; the others reuse what it found. None: every retrain")

    @field_validator("tune")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from croniter import croniter

        if value is not None and not croniter.is_valid(value):
            raise ValueError("not a cron expression (minute hour day month weekday)")
        return value


class Bound(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class VersusChampion(_Strict):
    min_delta: float = Field(0.0, ge=0, description="absolute improvement needed on the primary metric")
    max_relative_drop: dict[str, float] = Field(default_factory=dict,
                                                description="secondary metric -> largest relative worsening")
    confidence: float | None = Field(0.95, gt=0.5, lt=1,
                                     description="paired bootstrap: the lower bound of the gain must exceed min_delta")
    resamples: int = Field(1000, ge=100, le=20000)

    @field_validator("max_relative_drop")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        if bad := {metric: drop for metric, drop in value.items() if drop < 0}:
            raise ValueError(f"relative drops must be >= 0, got {bad}")
        return value


class Slices(_Strict):
    columns: list[str] = Field(min_length=1, description="feature columns whose values define slices")
    max_drop: float = Field(ge=0, description="largest worsening of the primary metric allowed on any slice")
    min_rows: int = Field(200, ge=1, description="slices with fewer holdout rows are not judged")


class Budgets(_Strict):
    model_size_mb: float | None = Field(None, gt=0)
    predict_ms_per_1k_rows: float | None = Field(None, gt=0,
                                                 description="median CPU ms of predicting 1,000 rows on one thread")


class Gate(_Strict):
    primary_metric: str
    thresholds: dict[str, Bound] = Field(default_factory=dict)
    vs_champion: VersusChampion = VersusChampion()
    slices: Slices | None = None
    budgets: Budgets = Budgets()
    approval: Literal["auto", "manual"] = Field(
        "auto", description="manual: a challenger the gate passed waits for a human at the retrain DAG's approve task")
    approval_timeout_hours: float = Field(72, gt=0, description="manual: no answer by then counts as a rejection")


class ModelSpec(_Strict):
    name: str = Field(pattern=NAME)
    description: str
    owner: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    source: Source
    lookups: list[Lookup] = Field(default_factory=list)
    task: Literal["classification", "regression", "multiclass"]
    target: Target
    features: Features
    never_features: list[str] = Field(default_factory=list)
    model: ModelConfig = ModelConfig()
    windows: Windows
    schedule: Schedule = Schedule()
    scoring: Scoring = Scoring()
    serving: Serving = Serving()
    monitoring: Monitoring = Monitoring()
    gate: Gate

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if not self.features.columns:
            raise ValueError("features: declare at least one numeric or categorical feature")
        forbidden = {*self.never_features, self.target.column}
        if leaks := sorted(set(self.features.columns) & forbidden):
            raise ValueError(f"features: {leaks} are listed as never_features or are the target")
        for name, expression in self.features.derived.items():
            if leaks := sorted(set(IDENTIFIER.findall(expression)) & forbidden):
                raise ValueError(f"features.derived.{name}: uses {leaks}, which are never_features or the target")
        self._aggregates_cannot_leak(forbidden)
        self._one_name_one_column()
        if self.serving.canary_percent and not self.canary_key:
            raise ValueError("serving.canary_key: a canary needs columns that identify an entity (canary_key or "
                             "scoring.id_columns), so that one entity always sees one model")
        if self.task == "classification" and self.target.rule is None:
            raise ValueError("target.rule: a classification target needs a rule such as '> 15'")
        if self.task != "classification" and self.target.missing != "drop":
            raise ValueError(f"target.missing: a {self.task} target can only drop missing values")
        if self.task == "multiclass" and self.target.rule is not None:
            raise ValueError("target.rule: a multiclass target is the column's labels, without a rule")
        if self.task != "multiclass" and self.target.classes is not None:
            raise ValueError(f"target.classes: only a multiclass target has classes, this task is {self.task}")
        known = METRICS[self.task]
        for metric in [self.gate.primary_metric, *self.gate.thresholds, *self.gate.vs_champion.max_relative_drop]:
            if metric not in known:
                raise ValueError(f"gate: unknown metric {metric!r} for {self.task}; allowed: {sorted(known)}")
        if self.gate.slices and (unknown := sorted(set(self.gate.slices.columns) - set(self.features.columns))):
            raise ValueError(f"gate.slices.columns: {unknown} are not features; slices are cut on feature columns")
        try:
            if not self.model.custom:  # a custom function takes its params as it likes
                check_params(self.model.estimator, self.task, self.model.params)
                if self.model.search:
                    check_params(self.model.estimator, self.task, self.model.search.space, "search.space")
        except ValueError as err:
            raise ValueError(f"model.{err}") from None
        for number, candidate in enumerate(self.model.candidates):
            try:
                check_params(candidate.estimator, self.task, candidate.params)
            except ValueError as err:
                raise ValueError(f"model.candidates.{number}.{err}") from None
        if self.model.tuned and self.windows.validation_days >= self.windows.train_days:
            raise ValueError(f"windows.validation_days: tuning cuts it from the training window, so it must be below "
                             f"train_days ({self.windows.train_days}), got {self.windows.validation_days}")
        return self

    def _aggregates_cannot_leak(self, forbidden: set[str]) -> None:
        """An aggregate of an outcome (the target, a never_features column) reads only days whose outcomes
        are known when a row is scored: strictly before its day, and past the label delay."""
        known_after = max(1, self.monitoring.label_delay_days)
        for name, aggregate in self.features.aggregates.items():
            if name in forbidden or rows_column(name) in forbidden:
                raise ValueError(f"features.aggregates.{name}: the name is the target or in never_features")
            if self.target.column in aggregate.by:
                raise ValueError(f"features.aggregates.{name}.by: groups by the target {self.target.column!r}, so a "
                                 "row's own outcome would choose its group")
            if aggregate.column in forbidden and aggregate.lag_days < known_after:
                raise ValueError(
                    f"features.aggregates.{name}: aggregates {aggregate.column!r} (an outcome: the target or in "
                    f"never_features) with lag_days {aggregate.lag_days}, so its window holds outcomes not known "
                    f"when a row is scored; lag_days must be >= {known_after} (a day's own outcomes are unknown, "
                    f"and monitoring.label_delay_days is {self.monitoring.label_delay_days})")
            own_label = aggregate.column == self.target.column and self.task == "classification"
            if aggregate.agg == "rate" and aggregate.rule is None and not own_label:
                raise ValueError(f"features.aggregates.{name}.rule: a rate of {aggregate.column!r} needs a rule "
                                 f"such as '> 15' (only a classification target's column has one of its own)")

    def _one_name_one_column(self) -> None:
        """Lookup columns, aggregates (and their `_rows`) and derived features each name a new column: two of
        one name would overwrite or suffix each other. `date` and `group` are the platform's own."""
        made = [*(("lookups." + lookup.name, column) for lookup in self.lookups for column in lookup.columns.values()),
                *((f"features.aggregates.{name}", column) for name in self.features.aggregates
                  for column in (name, rows_column(name))),
                *((f"features.derived.{name}", name) for name in self.features.derived)]
        seen: dict[str, str] = {"date": "the partition's date", "group": "the aggregates' tables"}
        for key, column in made:
            if column in seen:
                raise ValueError(f"{key}: makes the column {column!r}, which {seen[column]} already names")
            seen[column] = key

    @property
    def canary_key(self) -> list[str]:
        """The columns whose hash picks a request row's model while a canary runs."""
        return self.serving.canary_key or self.scoring.id_columns

    def with_params(self, overrides: dict[str, Param] | None) -> ModelSpec:
        """This spec with some of `model.params` replaced (a retrain form's `params`), validated as the
        file's own would be."""
        if not overrides:
            return self
        try:
            return ModelSpec.model_validate({**self.model_dump(), "model": {
                **self.model.model_dump(), "params": {**self.model.params, **overrides}}})
        except ValidationError as err:
            raise ConfigError(f"the run's params {overrides} do not fit {self.name}'s model:\n"
                              f"{explain(err, ModelSpec)}", kind="params",
                              hint="Trigger the retrain again with other params; a retry will not help.") from None

    @property
    def spec_hash(self) -> str:
        """Short content hash, tagged on every model version for lineage. Not cached: model_copy would
        carry a cached value over to a changed spec."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]

    @property
    def metric_directions(self) -> dict[str, bool]:
        return METRICS[self.task]


def read_yaml(path: Path) -> object:
    """A YAML file as plain data (safe loading: tags that build Python objects are refused)."""
    return yaml.load(path.read_text(), Loader=SAFE_LOADER)  # nosec B506  # SAFE_LOADER is a safe loader


def load_spec(path: Path) -> ModelSpec:
    """Read and validate one spec file; errors name the file and the key."""
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read the spec: {err}") from err
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping, found {type(data).__name__}")
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{path}: invalid spec\n{explain(err, ModelSpec)}") from None
    if spec.name != path.stem:
        raise SpecError(f"{path}: name {spec.name!r} must equal the file name {path.stem!r}")
    return spec


@dataclass(frozen=True)
class ModelsFolder:
    """What a models folder holds: the specs that load, by model name, and the error of each file that does
    not, by file name. One team's broken spec hides no other model."""

    specs: dict[str, ModelSpec]
    broken: dict[str, SpecError]


def load_models_folder(models_dir: Path) -> ModelsFolder:
    """Every `<name>.yaml` under models_dir, each loaded on its own."""
    specs, broken = {}, {}
    for path in sorted(models_dir.glob("*.yaml")):
        try:
            specs[path.stem] = load_spec(path)
        except SpecError as err:
            broken[path.stem] = err
        except Exception as err:  # noqa: BLE001 - whatever breaks one spec must not break the folder
            broken[path.stem] = SpecError(f"{path}: cannot load the spec: {type(err).__name__}: {err}")
    return ModelsFolder(specs, broken)
