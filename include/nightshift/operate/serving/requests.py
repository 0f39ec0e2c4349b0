"""A scoring request -> checked source rows, or a `RequestError` (a 4xx) that names the column and the
problem. Bodies follow MLflow's scoring protocol, so MLflow's clients work unchanged: a JSON object with
one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`.

Requests carry source rows, as the dataset's days hold them: the columns a version reads (its features,
lookup keys, aggregate keys, date columns) and the spec's id columns. The server builds the features.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd

from nightshift.data.ingest import row_dates
from nightshift.failures import DataError
from nightshift.model.features import source_columns, with_columns
from nightshift.spec import ModelSpec

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"


class RequestError(Exception):
    """A request the server refuses; `status` is its HTTP status (400, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_payload(body: bytes, content_type: str | None) -> pd.DataFrame:
    """The rows of an MLflow scoring request body."""
    if (content_type or "").split(";")[0].strip() != JSON:
        raise RequestError(415, f"content type {content_type!r} is not supported: send {JSON}")
    try:
        data = json.loads(body)
    except ValueError as err:
        raise RequestError(400, f"the body is not JSON: {err}") from None
    keys = sorted(set(data) & set(FORMATS)) if isinstance(data, dict) else []
    if len(keys) != 1:
        given = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise RequestError(400, f"a request is a JSON object with exactly one of {list(FORMATS)}; got {given}")
    rows = data[keys[0]]
    try:
        if keys[0] == "dataframe_split":
            return pd.DataFrame(rows["data"], columns=rows["columns"])
        if isinstance(rows, dict):  # instances/inputs as columns: {"col": [values]}
            return pd.DataFrame(rows)
        if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
            return pd.DataFrame.from_records(rows)
    except (KeyError, TypeError, ValueError) as err:
        raise RequestError(400, f"{keys[0]}: cannot be read as rows ({type(err).__name__}: {err})") from None
    raise RequestError(400, f"{keys[0]}: give a list of objects (one per row) or an object of columns; rows "
                            "without column names cannot be matched to the model's columns")


def _kind(dtype: str) -> str:
    """What a request's values of a column with this (pandas) dtype must be."""
    if dtype.lower().startswith(("int", "uint", "float")):
        return "number"
    return "boolean" if dtype.lower() == "bool" else "string"


@dataclass(frozen=True)
class RequestSchema:
    """The columns a request's rows must have, each a number, a boolean or a string, and the most rows."""

    columns: dict[str, str]   # column -> number | boolean | string
    max_rows: int

    @classmethod
    def of(cls, spec: ModelSpec, dataset_schema: dict[str, str]) -> RequestSchema:
        """For a version trained with `spec`, from the validated dataset's column types (a manifest's
        `schema`): what it reads, and the id columns, never the target."""
        wanted = set(source_columns(spec, list(dataset_schema))) - {spec.target.column}
        wanted |= {*spec.source.date_columns, *spec.scoring.id_columns, *spec.canary_key}
        if unknown := sorted(wanted - set(dataset_schema)):
            raise DataError(f"{spec.name}: columns {unknown} are not columns of {spec.source.dataset}",
                            kind="schema", hint="Fix scoring.id_columns or serving.canary_key in the spec.")
        return cls({column: _kind(dataset_schema[column]) for column in sorted(wanted)},
                   spec.serving.max_batch_rows)

    def check(self, frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
        """The request's rows with the schema's columns, numbers as float64 and a `date` column (the rows'
        own day, from the source's date columns); a RequestError naming the first problem."""
        return self.typed(self.shaped(frame), spec)

    def shaped(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The schema's columns of a request's rows, as given: a RequestError for no rows, too many rows
        or a missing column."""
        if frame.empty:
            raise RequestError(400, "the request has no rows")
        if len(frame) > self.max_rows:
            raise RequestError(413, f"{len(frame)} rows in one request; at most {self.max_rows} "
                                    "(serving.max_batch_rows): split the batch")
        if missing := [column for column in self.columns if column not in frame.columns]:
            raise RequestError(400, f"missing column(s) {missing}; the model reads {list(self.columns)}")
        return frame[list(self.columns)]

    def typed(self, frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
        """`shaped` rows (of one request or several) with their values checked and typed, and `date`."""
        frame = pd.DataFrame({column: _typed(frame[column], column, kind) for column, kind in self.columns.items()})
        try:
            dates = row_dates(spec.source, frame, today=dt.date.max)  # a row may be about a future day
        except DataError as err:
            raise RequestError(400, str(err)) from None
        return with_columns(frame, {"date": pd.to_datetime(dates)})


def _typed(values: pd.Series, column: str, kind: str) -> pd.Series:
    if kind == "number" and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")  # JSON numbers (and nulls) only: pandas made a numeric column
    if kind == "string" and values.dtype == "str":
        return values  # JSON strings (and nulls) only: pandas made a string column
    if kind == "number":
        wrong = values.map(lambda value: isinstance(value, bool) or not isinstance(value, int | float))
    elif kind == "boolean":
        wrong = ~values.map(lambda value: isinstance(value, bool))
    else:
        wrong = ~values.map(lambda value: isinstance(value, str))
    wrong &= values.notna()
    if wrong.any():
        row = int(wrong.to_numpy().argmax())
        value = values.iloc[row]
        raise RequestError(400, f"column {column!r}: expected a {kind}, got {value!r} ({type(value).__name__}) "
                                f"in row {row}")
    return values.astype({"number": "float64", "boolean": "boolean", "string": "str"}[kind])  # as a day's rows
