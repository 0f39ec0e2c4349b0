"""The MLflow model registry as the single source of truth for what serves.

Aliases: `champion` serves, `challenger` awaits the gate, `previous` is the champion it replaced.
MLflow's alias API is a plain overwrite, so promotion is a compare-and-set under a per-model lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nightshift.failures import ConfigError, InfraError, ModelError, unresolved_host
from nightshift.model.locks import promotion_lock
from nightshift.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from filelock import FileLock
    from mlflow import MlflowClient
    from mlflow.pyfunc import PyFuncModel

    from nightshift.spec import ModelSpec

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
MODEL_SHA256 = "model_sha256"
SPEC_ARTIFACT = "spec.json"  # the spec a version was trained with, logged with its run
WINDOW_ARTIFACT = "data_window.json"  # its training and holdout days, with partition checksums
TUNING_ARTIFACT = "tuning/leaderboard.json"  # the trials of the search that chose it, best first
# MLflow's client writes this file (the model's name and version) into every download of a
# `models:/<name>/<version>` URI; it is not in the artifact store, so it is not part of the checksum.
CLIENT_WRITTEN = {"registered_model_meta"}  # at the top of the model folder
SQLITE_STORE_LOCK_TIMEOUT_S = 120  # creating a store's tables takes seconds; opening an existing one, less


def artifact_checksum(folder: Path) -> str:
    """sha256 over every stored file's relative path and bytes, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if (relative := path.relative_to(folder).as_posix()) not in CLIENT_WRITTEN:
            digest.update(relative.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def folder_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _check_reachable(tracking_uri: str) -> None:
    """A tracking server must answer its health check: one clear error up front instead of MLflow's own
    retries and a connection error deep inside a step. A host name that does not resolve is a setting to
    fix; a server that does not answer is retried."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    setting = f"MLFLOW_TRACKING_URI = {tracking_uri} (environment)"
    try:
        health = f"{tracking_uri.rstrip('/')}/health"
        urllib.request.urlopen(health, timeout=10).close()  # nosec B310  # http(s) only, checked above
    except OSError as err:
        if unresolved_host(err):
            raise ConfigError(f"registry: the host of the MLflow tracking server {tracking_uri} does not resolve",
                              kind="misconfigured_endpoint", evidence=setting,
                              hint="Fix MLFLOW_TRACKING_URI where the tasks run; a retry will not help.") from err
        raise InfraError(f"registry: the MLflow tracking server at {tracking_uri} does not answer: {err}",
                         kind="registry", evidence=setting,
                         hint="The MLflow server is down, or MLFLOW_TRACKING_URI names the wrong host or port. "
                              "The task retries; if the setting is wrong, fix it and clear the task.") from err


def _sqlite_store_lock(settings: Settings) -> FileLock:
    """MLflow creates a new SQLite store's tables when a process first opens it, without a lock: two
    processes doing so at once collide ("table _alembic_tmp_experiments already exists"), as the first
    tasks of a fresh install's Airflow did. Under this lock one process at a time opens the store; the
    others find its tables."""
    from filelock import FileLock

    settings.locks_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(settings.locks_dir / "mlflow-sqlite-store.lock", timeout=SQLITE_STORE_LOCK_TIMEOUT_S)


def _create_sqlite_store_if_missing(tracking_uri: str) -> None:
    """Make a new SQLite store's tables in a file beside it, then move that file into place. MLflow migrates
    a new store step by step, each step committed: a process killed halfway (a failed task's callback
    looking up the champion of a fresh install, ended with its task process) left a store no later process
    could open ("table online_scoring_configs already exists"). Call under the store's lock."""
    from sqlalchemy.engine import make_url

    store = Path(make_url(tracking_uri).database or "")
    if not store.name or store.exists():  # an in-memory store, or one already made
        return
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine_with_retry  # 1.5 s: only here

    store.parent.mkdir(parents=True, exist_ok=True)
    making = store.with_name(f".{store.name}.making-{os.getpid()}")
    making.unlink(missing_ok=True)
    engine = create_sqlalchemy_engine_with_retry(f"sqlite:///{making}")
    try:
        _initialize_tables(engine)  # what `mlflow db upgrade` does to an empty database
    finally:
        engine.dispose()
    making.replace(store)


@contextlib.contextmanager
def _quiet_module_scans() -> Iterator[None]:
    """skops looks objects up in every loaded module when it saves or loads a model; in a task, each lookup
    of one of Airflow's moved-module shims warns (FutureWarning), which would put tens to hundreds of lines
    about `airflow.utils.*` names in the task's log, pushing its own lines out of the tail."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


@dataclass(frozen=True)
class TrainedModel:
    """A fitted pipeline and what its run records."""

    pipeline: object
    sample: pd.DataFrame           # model inputs the signature is inferred from
    run_name: str
    params: dict[str, object]
    metrics: dict[str, float]
    window: dict                   # the data window with partition checksums (WINDOW_ARTIFACT)
    trusted_types: list[str]       # what skops may load beyond its defaults
    requirements: list[str]        # pinned packages to load the model


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    model_uri: str


@dataclass(frozen=True)
class RegisteredVersion:
    version: str
    registered: dt.datetime  # UTC
    tags: dict[str, str]


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
        # MLflow draws a progress bar per artifact download; task logs need none of them.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        _check_reachable(settings.mlflow_tracking_uri)
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        mlflow.set_registry_uri(settings.mlflow_tracking_uri)
        if not settings.mlflow_tracking_uri.startswith("sqlite:"):
            return cls(settings, mlflow.MlflowClient())
        with _sqlite_store_lock(settings):
            _create_sqlite_store_if_missing(settings.mlflow_tracking_uri)
            client = mlflow.MlflowClient()                  # opens the tracking store
            client.search_registered_models(max_results=1)  # and the model registry's
        return cls(settings, client)

    def _experiment_id(self, model: str) -> str:
        """The model's experiment, created with this install's artifact root (a server decides its own).
        Two first runs of a new model may race to create it: the loser reads the winner's."""
        from mlflow.exceptions import MlflowException

        if experiment := self.client.get_experiment_by_name(model):
            return experiment.experiment_id
        root = self.settings.mlflow_artifacts_uri
        try:
            return self.client.create_experiment(model, artifact_location=root and f"{root}/{model}")
        except MlflowException:
            if experiment := self.client.get_experiment_by_name(model):
                return experiment.experiment_id
            raise

    def log_trained_model(self, spec: ModelSpec, trained: TrainedModel) -> LoggedModel:
        """Log a fitted scikit-learn pipeline to a new run of the model's experiment: its parameters,
        metrics, the spec it was trained with and its data window, and the model itself (skops format,
        with a signature inferred from a sample of its inputs). Not yet a registered version."""
        import mlflow
        from mlflow.models import infer_signature

        sample = trained.sample
        with mlflow.start_run(experiment_id=self._experiment_id(spec.name), run_name=trained.run_name) as run:
            mlflow.log_params(trained.params)
            mlflow.log_metrics(trained.metrics)
            mlflow.log_dict(trained.window, WINDOW_ARTIFACT)
            self._log_data_inputs(spec, trained.window)
            mlflow.log_dict(spec.model_dump(mode="json"), SPEC_ARTIFACT)
            with _quiet_module_scans():
                info = mlflow.sklearn.log_model(
                    trained.pipeline, name="model",
                    signature=infer_signature(sample, trained.pipeline.predict(sample)), input_example=sample.head(5),
                    skops_trusted_types=trained.trusted_types, pip_requirements=trained.requirements,
                )
        return LoggedModel(run_id=run.info.run_id, model_uri=info.model_uri)

    def _log_data_inputs(self, spec: ModelSpec, window: dict) -> None:
        """The training and holdout days as the active run's MLflow datasets, so that MLflow's UI and search
        show what the version learned from and was judged on: the dataset's validated zone as the source,
        the days in the name, and a digest of their partition checksums (equal digests, equal rows)."""
        import mlflow
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset

        dataset = spec.source.dataset
        with warnings.catch_warnings():  # two equivalent file:// sources are registered; either is right
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(f"{self.settings.lake_uri.rstrip('/')}/validated/{dataset}")
        for context, days in (("training", window["train"]), ("holdout", window["holdout"])):
            digest = hashlib.sha256("\n".join(window["partitions"][day] for day in days).encode()).hexdigest()
            mlflow.log_input(MetaDataset(source, name=f"{dataset} {days[0]}..{days[-1]}",
                                         digest=digest[:16]), context=context)

    def log_to_run(self, model: str, version: str, *, texts: dict[str, str] | None = None,
                   dicts: dict[str, dict] | None = None, figures: dict[str, object] | None = None,
                   metrics: dict[str, float] | None = None, step: int = 0) -> None:
        """Artifacts (by path in the run) and metrics on the run that trained `version`."""
        run_id = self.run_id(model, version)
        for path, text in (texts or {}).items():
            self.client.log_text(run_id, text, path)
        for path, data in (dicts or {}).items():
            self.client.log_dict(run_id, data, path)
        for path, figure in (figures or {}).items():
            self.client.log_figure(run_id, figure, path)
        for name, value in (metrics or {}).items():
            self.client.log_metric(run_id, name, value, step=step)

    def run_metric(self, model: str, version: str, name: str) -> float | None:
        """The latest value of a metric on the run that trained `version`."""
        return self.client.get_run(self.run_id(model, version)).data.metrics.get(name)

    def metric_steps(self, model: str, version: str, name: str) -> set[int]:
        """The steps at which a metric was logged on the run that trained `version`."""
        return {point.step for point in self.client.get_metric_history(self.run_id(model, version), name)}

    def versions(self, model: str) -> list[RegisteredVersion]:
        """Every registered version of a model, oldest first."""
        found = self.client.search_model_versions(f"name = '{model}'")
        return [RegisteredVersion(str(mv.version), dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC),
                                  dict(mv.tags)) for mv in sorted(found, key=lambda mv: int(mv.version))]

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
        """Callers hold `promotion_lock`: MLflow's alias write is a read-then-insert, so two at once for
        the same alias can fail on PostgreSQL with a unique violation."""
        self.client.set_registered_model_alias(model, alias, version)

    def name_challenger(self, model: str, version: str) -> None:
        with self.promotion_lock(model):
            self.set_alias(model, CHALLENGER, version)

    def tag_version(self, model: str, version: str, tags: dict[str, object]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model, version, key, str(value))

    def version_tags(self, model: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(model, version).tags)

    def model_tags(self, model: str) -> dict[str, str]:
        """The registered model's own tags; empty before its first version."""
        from mlflow.exceptions import MlflowException

        try:
            return dict(self.client.get_registered_model(model).tags)
        except MlflowException as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise InfraError(f"registry: cannot read model {model}: {err}", kind="registry") from err

    def record_tuning(self, model: str, version: str, metric: str, trials: list[dict], table: str,
                      model_tags: dict[str, str]) -> None:
        """A search's trials as child runs of the run that trained `version` (params, validation metric, fit
        time; a failed one FAILED, with its error), its leaderboard on that run, the trial count on the
        version and the winner on the registered model."""
        from mlflow.entities import Metric, Param, RunTag

        parent = self.client.get_run(self.run_id(model, version))
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        for trial in trials:
            child = self.client.create_run(parent.info.experiment_id, run_name=f"trial {trial['number']}",
                                           tags={"mlflow.parentRunId": parent.info.run_id})
            config = trial["config"]
            self.client.log_batch(child.info.run_id, params=[
                Param(key, str(value)) for key, value in
                {"estimator": config["estimator"], "source": trial["source"], **config["params"]}.items()],
                metrics=[Metric(name, value, now, 0) for name, value in
                         {f"validation_{metric}": trial["metric"],
                          "fit_seconds": trial["fit_seconds"]}.items() if value is not None],
                tags=[RunTag("error", trial["error"][:5000])] if trial["error"] else [])
            self.client.set_terminated(child.info.run_id, "FAILED" if trial["error"] else "FINISHED")
        self.client.log_dict(parent.info.run_id, {"trials": trials}, TUNING_ARTIFACT)
        self.client.log_text(parent.info.run_id, table, TUNING_ARTIFACT.replace(".json", ".txt"))
        self.tag_version(model, version, {"tuning": f"{len(trials)} trials"})
        for key, value in model_tags.items():
            self.client.set_registered_model_tag(model, key, value)

    def end_abandoned_runs(self, model: str, older_than: dt.timedelta) -> list[str]:
        """Runs of the model's experiment still RUNNING though they started longer ago than a task may run:
        the task that opened each died (killed, its machine lost). Each is marked KILLED, with a tag saying
        when and why; returns their ids."""
        experiment = self.client.get_experiment_by_name(model)
        if experiment is None:
            return []
        now = dt.datetime.now(dt.UTC)
        cutoff_ms = int((now - older_than).timestamp() * 1000)
        abandoned = self.client.search_runs(
            [experiment.experiment_id], f"attributes.status = 'RUNNING' and attributes.start_time < {cutoff_ms}")
        for run in abandoned:
            started = dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC)
            self.client.set_tag(run.info.run_id, "nightshift.abandoned",
                                f"still RUNNING at {now:%Y-%m-%d %H:%M} UTC, {now - started} after it started, longer "
                                f"than a task may run ({older_than}): its task died; marked KILLED by a later retrain")
            self.client.set_terminated(run.info.run_id, "KILLED")
        return [run.info.run_id for run in abandoned]

    def leaderboard(self, model: str, version: str) -> list[dict]:
        """The trials of the search that chose `version`, best first; empty when none searched."""
        import mlflow

        run_id = self.run_id(model, version)
        if not any(item.path == TUNING_ARTIFACT for item in self.client.list_artifacts(run_id, "tuning")):
            return []
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{TUNING_ARTIFACT}")["trials"]

    def run_artifact(self, model: str, version: str, path: str) -> bytes:
        """One file the run that trained `version` logged (a gate report, a drift plot), whole."""
        with tempfile.TemporaryDirectory() as folder:
            return Path(self.client.download_artifacts(self.run_id(model, version), path, folder)).read_bytes()

    def run_id(self, model: str, version: str) -> str:
        return self.client.get_model_version(model, version).run_id

    def trained_spec(self, model: str, version: str) -> ModelSpec:
        """The spec a version was trained with (its run's `spec.json`): how to build its inputs."""
        import mlflow

        from nightshift.spec import ModelSpec

        logged = mlflow.artifacts.load_dict(f"runs:/{self.run_id(model, version)}/{SPEC_ARTIFACT}")
        return ModelSpec.model_validate(logged)

    def training_window(self, model: str, version: str) -> dict:
        """The days a version was trained and judged on, with their partition checksums (its run's
        `data_window.json`)."""
        import mlflow

        return mlflow.artifacts.load_dict(f"runs:/{self.run_id(model, version)}/{WINDOW_ARTIFACT}")

    def register_version(self, model: str, model_uri: str, tags: dict[str, object]) -> str:
        """Register a logged model as a new version of `model` with all its tags at once, the artifact's
        checksum and size among them. Returns the version.

        One registry write (the version and its tags in one transaction), so a process killed at any
        moment leaves either no version or a complete one, never a version without its checksum."""
        import mlflow

        tags = {**tags, **self._artifact_tags(model_uri)}
        version = mlflow.register_model(model_uri, model, tags={key: str(value) for key, value in tags.items()})
        return str(version.version)

    def record_artifact_checksum(self, model: str, version: str) -> dict[str, str]:
        """Tag an existing version with its artifact's current checksum and size (to re-record it after
        a deliberate change to the artifact; new versions get theirs from `register_version`)."""
        tags = self._artifact_tags(f"models:/{model}/{version}")
        self.tag_version(model, version, tags)
        return tags

    def _artifact_tags(self, artifact_uri: str) -> dict[str, str]:
        """The checksum and size of a model's artifact folder, as recorded on its version."""
        with tempfile.TemporaryDirectory() as scratch:
            folder = self._download(artifact_uri, Path(scratch))
            return {MODEL_SHA256: artifact_checksum(folder), "model_size_mb": f"{folder_size_mb(folder):.3f}"}

    @contextlib.contextmanager
    def verified_artifact(self, model: str, version: str) -> Iterator[Path]:
        """A local copy of the version's model folder whose checksum matches the one recorded at
        registration; a tampered or unrecorded artifact is refused before anything loads it."""
        expected = self.version_tags(model, version).get(MODEL_SHA256)
        if expected is None:
            raise ModelError(f"{model} version {version} has no recorded {MODEL_SHA256}; refusing to load it",
                             kind="artifact_checksum", hint="Only versions registered by Nightshift's train step load.")
        with tempfile.TemporaryDirectory() as scratch:
            folder = self._download(f"models:/{model}/{version}", Path(scratch))
            if (actual := artifact_checksum(folder)) != expected:
                raise ModelError(
                    f"{model} version {version}: artifact checksum {actual[:12]}... does not match the recorded "
                    f"{expected[:12]}...; the artifact changed after registration", kind="artifact_checksum",
                    hint=f"Treat the artifact store as tampered with: do not serve this version, and do not rerun the "
                         f"task (the check fails again). {self.way_back(model, version)}")
            yield folder

    @contextlib.contextmanager
    def loaded_pyfunc(self, model: str, version: str) -> Iterator[PyFuncModel]:
        """The version loaded as MLflow's generic pyfunc model (as a scorer would load it; its `predict`
        enforces the signature), checksum verified; its downloaded files are kept while the block runs."""
        import mlflow

        with self.verified_artifact(model, version) as folder, _quiet_module_scans():
            yield mlflow.pyfunc.load_model(str(folder))

    def load_model(self, model: str, version: str):
        """The scikit-learn pipeline of one registered version, checksum verified."""
        import mlflow

        with self.verified_artifact(model, version) as folder, _quiet_module_scans():
            try:
                return mlflow.sklearn.load_model(str(folder))
            except Exception as err:  # any failure to load means the version cannot serve
                raise ModelError(f"{model} version {version} does not load: {err}", kind="model_load",
                                 hint=f"A rerun loads the same bytes and fails again. {self.way_back(model, version)}"
                                 ) from err

    def way_back(self, model: str, version: str) -> str:
        """What to do about a version that cannot serve: roll back to the newest earlier version with a recorded
        checksum, or retrain where there is none."""
        earlier = [v.version for v in self.versions(model) if int(v.version) < int(version) and MODEL_SHA256 in v.tags]
        if earlier:
            return (f"Roll back to version {earlier[-1]} (the nightshift__rollback DAG's form, or `nightshift "
                    f"rollback {model} --to {earlier[-1]} --reason ...`), or retrain.")
        return f"No earlier version to roll back to: retrain (the {model}__retrain DAG) once the cause is fixed."

    def _download(self, artifact_uri: str, destination: Path) -> Path:
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=str(destination)))
        except (MlflowException, OSError) as err:
            raise InfraError(f"registry: cannot download {artifact_uri}: {err}", kind="registry") from err

    def promotion_lock(self, model: str) -> contextlib.AbstractContextManager[None]:
        """Serialise promote and rollback of one model across processes and machines."""
        return promotion_lock(self.settings, model)

    def promote(self, model: str, version: str, expected_champion: str | None) -> str | None:
        """Move `champion` to `version` (and `previous` to the old champion) only if the champion is
        still `expected_champion`, the one the gate compared against. Returns the replaced version.

        Idempotent: a retry after a try that died half-way (champion moved, the challenger alias not yet
        removed) completes that promotion instead of judging the challenger against itself."""
        with self.promotion_lock(model):
            current = self.alias_version(model, CHAMPION)
            if current == version and expected_champion != version:
                current = expected_champion
            elif current != expected_champion:
                raise ChampionChanged(
                    f"{model}: the gate compared version {version} with champion {expected_champion}, "
                    f"but the champion is now {current}", kind="champion_changed",
                    hint="Rerun the retrain's evaluate task so the gate compares against the new champion.")
            with self.verified_artifact(model, version):
                pass  # an artifact changed since the gate judged it is never made champion
            if current is not None:
                self.set_alias(model, PREVIOUS, current)
            self.set_alias(model, CHAMPION, version)
            if self.alias_version(model, CHALLENGER) == version:  # not a newer challenger named meanwhile
                self.client.delete_registered_model_alias(model, CHALLENGER)
        self.tag_version(model, version, {"promoted.at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                          "promoted.replaced": current or "none"})
        return current

    def rollback(self, model: str, target: str, *, reason: str, actor: str) -> dict[str, str]:
        """Make `target` (a version, or "previous") the champion again; the replaced champion becomes
        `previous`, so rolling back to "previous" once more undoes it. Who, when and why are tagged."""
        if not reason.strip():
            raise ModelError("a rollback needs a reason", kind="rollback")
        with self.promotion_lock(model):
            current = self.alias_version(model, CHAMPION)
            version = self.alias_version(model, PREVIOUS) if target == PREVIOUS else str(target)
            if current is None or version is None:
                raise ModelError(f"{model}: nothing to roll back (champion {current}, target {target} -> {version})",
                                 kind="rollback")
            if version == current:
                raise ModelError(f"{model}: version {version} is already the champion", kind="rollback")
            with self.verified_artifact(model, version):
                pass  # a version whose artifact changed is never made champion
            self.set_alias(model, CHAMPION, version)
            self.set_alias(model, PREVIOUS, current)
        record = {"from_version": current, "to_version": version, "by": actor, "reason": reason,
                  "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self.tag_version(model, version, {f"rollback.{key}": value for key, value in record.items()})
        self.client.set_registered_model_tag(model, "last_rollback", json.dumps(record))
        return record

    def retire_challenger(self, model: str, version: str) -> None:
        """A rejected challenger keeps its version and tags but no longer holds the alias."""
        with self.promotion_lock(model):
            if self.alias_version(model, CHALLENGER) == version:
                self.client.delete_registered_model_alias(model, CHALLENGER)
