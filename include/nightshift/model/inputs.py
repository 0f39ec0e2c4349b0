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

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from nightshift.data.lake import Lake
from nightshift.failures import ModelError
from nightshift.model.features import FeatureFrame, build_features, model_inputs, read_lookups, source_columns
from nightshift.model.registry import Registry
from nightshift.spec import ModelSpec


def window_features(spec: ModelSpec, lake: Lake, days: list[dt.date]) -> FeatureFrame:
    """Model inputs and target of these validated days, reading only the columns the spec needs."""
    dataset = spec.source.dataset
    available = lake.manifest("validated", dataset, days[0])["columns"]
    frame = lake.read_days("validated", dataset, days, columns=source_columns(spec, available))
    return build_features(spec, frame, read_lookups(spec))


def predict(model, task: str, X: pd.DataFrame) -> np.ndarray:
    """The positive class's probability for classification, the value for regression."""
    return model.predict_proba(X)[:, 1] if task == "classification" else model.predict(X)


def judged_spec(current: ModelSpec, trained_with: ModelSpec, version: str) -> ModelSpec:
    """`trained_with`, after checking that the current spec's labels mean what the version learned."""
    if (trained_with.source.dataset, trained_with.target) != (current.source.dataset, current.target):
        raise ModelError(
            f"{current.name}: v{version} was trained for another dataset or target ({trained_with.source.dataset!r}, "
            f"{trained_with.target.model_dump()}) than the spec now names ({current.source.dataset!r}, "
            f"{current.target.model_dump()}); its predictions cannot be judged against the new labels",
            kind="gate_config",
            hint="Promote the first model of a new target deliberately (rollback to it, or a new model name).")
    return trained_with


@dataclass(frozen=True)
class VersionModel:
    """One registered version, ready to predict: the model (checksum verified) and its own spec."""

    version: str
    model: object
    spec: ModelSpec  # the spec it was trained with: how its inputs are built

    @classmethod
    def load(cls, registry: Registry, current: ModelSpec, version: str) -> VersionModel:
        trained_with = judged_spec(current, registry.trained_spec(current.name, version), version)
        return cls(version, registry.load_model(current.name, version), trained_with)

    @cached_property
    def lookups(self) -> dict[str, pd.DataFrame]:
        """Its lookup tables, read on first use (not when its inputs come ready-made)."""
        return read_lookups(self.spec)

    def inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """This version's model inputs for validated rows (with their `date` column)."""
        return model_inputs(self.spec, frame, self.lookups)

    def predict_inputs(self, X: pd.DataFrame) -> np.ndarray:
        return predict(self.model, self.spec.task, X)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_inputs(self.inputs(frame))
