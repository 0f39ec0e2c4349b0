"""The MLflow model registry as the single source of truth for what serves.

Aliases: `champion` serves, `challenger` awaits the gate, `previous` is the champion it replaced.
MLflow's alias API is a plain overwrite, so promotion is a compare-and-set under a per-model lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nightshift.failures import InfraError, ModelError
from nightshift.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from nightshift.spec import ModelSpec

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"


class ChampionChanged(ModelError):
    """The champion moved between the gate's comparison and the promotion: the gate must rerun."""


@dataclass
class Registry:
    settings: Settings
    client: MlflowClient

    @classmethod
    def from_env(cls) -> Registry:
        import mlflow

        settings = Settings.from_env()
        settings.home.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        mlflow.set_registry_uri(settings.mlflow_tracking_uri)
        return cls(settings, mlflow.MlflowClient())

    @contextlib.contextmanager
    def start_run(self, spec: ModelSpec, run_name: str):
        """An MLflow run in the model's experiment (created with this install's artifact root)."""
        import mlflow

        experiment = self.client.get_experiment_by_name(spec.name)
        experiment_id = (
            experiment.experiment_id if experiment
            else self.client.create_experiment(spec.name, artifact_location=f"{self.settings.mlflow_artifacts_uri}/{spec.name}")
        )
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            yield run

    def alias_version(self, model: str, alias: str) -> str | None:
        """The version an alias points at, or None when the alias (or the model) does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(model, alias).version)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise InfraError(f"registry: cannot read alias {model}@{alias}: {err}", kind="registry") from err

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(model, alias, version)

    def tag_version(self, model: str, version: str, tags: dict[str, object]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model, version, key, str(value))

    def version_tags(self, model: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(model, version).tags)

    def run_id(self, model: str, version: str) -> str:
        return self.client.get_model_version(model, version).run_id

    def load_model(self, model: str, version: str):
        """The scikit-learn pipeline of one registered version."""
        import mlflow

        try:
            return mlflow.sklearn.load_model(f"models:/{model}/{version}")
        except Exception as err:  # any failure to load means the version cannot serve
            raise InfraError(f"registry: cannot load {model} version {version}: {err}", kind="model_load") from err

    @contextlib.contextmanager
    def promotion_lock(self, model: str) -> Iterator[None]:
        """Serialise promote/rollback of one model. A file lock: right for the embedded default, where
        every process shares this disk."""
        from filelock import FileLock

        self.settings.locks_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.settings.locks_dir / f"promote-{model}.lock", timeout=300):
            yield

    def promote(self, model: str, version: str, expected_champion: str | None) -> str | None:
        """Move `champion` to `version` (and `previous` to the old champion) only if the champion is
        still `expected_champion`, the one the gate compared against. Returns the replaced version."""
        with self.promotion_lock(model):
            current = self.alias_version(model, CHAMPION)
            if current != expected_champion:
                raise ChampionChanged(
                    f"{model}: the gate compared version {version} with champion {expected_champion}, "
                    f"but the champion is now {current}", kind="champion_changed",
                    hint="Rerun the retrain's evaluate task so the gate compares against the new champion.")
            if current is not None:
                self.set_alias(model, PREVIOUS, current)
            self.set_alias(model, CHAMPION, version)
            self.client.delete_registered_model_alias(model, CHALLENGER)
        return current

    def retire_challenger(self, model: str, version: str) -> None:
        """A rejected challenger keeps its version and tags but no longer holds the alias."""
        with self.promotion_lock(model):
            if self.alias_version(model, CHALLENGER) == version:
                self.client.delete_registered_model_alias(model, CHALLENGER)
