"""Model inputs in one place: a window's features read from the lake, a registered version's inputs built
by its own spec, and predictions. Training, the gate, scoring and monitoring all go through here.

Which spec, the one rule: a version's *inputs* (the columns it reads, its lookups, derived features and
feature types) always come from the spec it was trained with, logged on its run; what the platform
*decides* (the target rule that labels rows, the primary metric, gate, windows and monitoring rules) comes
from the current spec file. Labels made by the current rule mean the same to a version only if it was
trained for the same dataset and target, so a version trained for another one is refused wherever its
predictions are judged against labels (`judged_spec`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from nightshift.data.lake import Lake
from nightshift.failures import DataError, ModelError
from nightshift.model.aggregates import day_tables
from nightshift.model.features import (
    FeatureFrame,
    aggregate_parts,
    build_features,
    model_inputs,
    read_lookups,
    source_columns,
)
from nightshift.model.registry import Registry
from nightshift.spec import ModelSpec

log = logging.getLogger(__name__)


def window_features(spec: ModelSpec, lake: Lake, days: list[dt.date], *, materialise: bool = False) -> FeatureFrame:
    """Model inputs and target of these validated days, reading only the columns the spec needs. The
    rolling aggregates' tables are read from features/ where fresh (and, with `materialise`, the others
    written there: see `nightshift.model.aggregates.day_tables`)."""
    dataset = spec.source.dataset
    available = lake.manifest("validated", dataset, days[0])["columns"]
    frame = lake.read_days("validated", dataset, days, columns=source_columns(spec, available))
    if not spec.features.aggregates:
        return build_features(spec, frame, read_lookups(spec))
    tables = day_tables(spec, lake, days, materialise=materialise)
    log.info("%s", tables.summary())
    data = build_features(spec, frame, read_lookups(spec), aggregate_parts(spec, tables.frame))
    return dataclasses.replace(data, history_left_out=tables.left_out)


def predict(model, task: str, X: pd.DataFrame) -> np.ndarray:
    """The positive class's probability for classification, each class's (n x k, in the order the version
    learned them) for multiclass, the value for regression."""
    if task == "regression":
        return model.predict(X)
    probabilities = model.predict_proba(X)
    return probabilities[:, 1] if task == "classification" else probabilities


def learned_classes(spec: ModelSpec, labels: pd.Series) -> list[str]:
    """The classes a new multiclass version learns from its training labels: the declared ones in their
    order, else every label sorted, each with at least `target.min_class_rows` rows. A DataError, before
    any fit, when fewer than two are left."""
    counts = labels.value_counts()
    candidates = spec.target.classes or sorted(counts.index)
    learned = [label for label in candidates if counts.get(label, 0) >= spec.target.min_class_rows]
    if len(learned) < 2:
        raise DataError(
            f"the training window has {len(learned)} class(es) of {spec.target.column!r} with at least "
            f"{spec.target.min_class_rows} rows; rows per label: {counts.head(10).to_dict()}", kind="empty_window",
            hint="A multiclass model needs two classes or more: widen windows.train_days, lower "
                 "target.min_class_rows, or check target.classes.")
    return learned


def class_codes(labels: pd.Series, classes: list[str]) -> np.ndarray:
    """Each label's position in `classes`; -1 for a label not among them."""
    return pd.Index(classes).get_indexer(labels).astype("int64")


@dataclass(frozen=True)
class Judged:
    """Labels and the predictions of one or more models on the same rows, ready for the metrics. Multiclass:
    labels are codes over every class the models learned, each model's probabilities aligned on them (0 for
    a class it never learned), and rows of a label no model learned left out and counted."""

    y: np.ndarray
    predictions: list[np.ndarray]
    kept: np.ndarray                       # which of the given rows these are
    unknown_classes: dict[str, int]        # multiclass: the rows left out, by label

    def __len__(self) -> int:
        return len(self.y)


def judged_rows(task: str, labels: pd.Series, predictions: list[np.ndarray],
                learned: list[list[str] | None]) -> Judged:
    """`predictions[i]` made by a model that learned `learned[i]` (None unless multiclass)."""
    if task != "multiclass":
        return Judged(labels.to_numpy(dtype="float64"), predictions, np.ones(len(labels), bool), {})
    classes = list(dict.fromkeys(label for own in learned for label in own))
    codes = class_codes(labels, classes)
    kept = codes >= 0
    aligned = []
    for probabilities, own in zip(predictions, learned, strict=True):
        full = np.zeros((len(labels), len(classes)))
        full[:, [classes.index(label) for label in own]] = probabilities
        aligned.append(full[kept])
    unknown = {str(label): int(count) for label, count in labels[~kept].value_counts().items()}
    return Judged(codes[kept], aligned, kept, unknown)


def judged_spec(current: ModelSpec, trained_with: ModelSpec, version: str) -> ModelSpec:
    """`trained_with`, after checking that the current spec's labels mean what the version learned (the
    classes a multiclass version learned may differ: they are aligned where predictions are judged)."""
    if ((trained_with.source.dataset, trained_with.task, trained_with.target.label)
            != (current.source.dataset, current.task, current.target.label)):
        raise ModelError(
            f"{current.name}: v{version} was trained for another dataset or target ({trained_with.source.dataset!r}, "
            f"{trained_with.task}, {trained_with.target.label}) than the spec now names ({current.source.dataset!r}, "
            f"{current.task}, {current.target.label}); its predictions cannot be judged against the new labels",
            kind="gate_config",
            hint="Promote the first model of a new target deliberately (rollback to it, or a new model name).")
    return trained_with


@dataclass(frozen=True)
class VersionModel:
    """One registered version, ready to predict: the model (checksum verified), its own spec, and the lake
    its rolling aggregates are read from."""

    version: str
    model: object
    spec: ModelSpec  # the spec it was trained with: how its inputs are built
    lake: Lake

    @classmethod
    def load(cls, registry: Registry, lake: Lake, current: ModelSpec, version: str) -> VersionModel:
        trained_with = judged_spec(current, registry.trained_spec(current.name, version), version)
        return cls(version, registry.load_model(current.name, version), trained_with, lake)

    @cached_property
    def lookups(self) -> dict[str, pd.DataFrame]:
        """Its lookup tables, read on first use (not when its inputs come ready-made)."""
        return read_lookups(self.spec)

    def inputs(self, frame: pd.DataFrame, aggregates: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """This version's model inputs for validated rows (with their `date` column). Its rolling aggregates
        are read from the lake, unless the caller holds them (`aggregates`, as `aggregate_parts` gives them)."""
        if self.spec.features.aggregates and aggregates is None:
            days = [day.date() for day in frame["date"].drop_duplicates()]
            aggregates = aggregate_parts(self.spec, day_tables(self.spec, self.lake, days).frame)
        return model_inputs(self.spec, frame, self.lookups, aggregates)

    @property
    def classes(self) -> list[str] | None:
        """The classes a multiclass version learned, in the order of its probabilities."""
        return self.spec.target.classes

    def predict_inputs(self, X: pd.DataFrame) -> np.ndarray:
        return predict(self.model, self.spec.task, X)

    def labels(self, probabilities: np.ndarray) -> np.ndarray:
        """Multiclass: the most likely class of each row."""
        return np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_inputs(self.inputs(frame))
