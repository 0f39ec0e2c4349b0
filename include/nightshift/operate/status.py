"""What is where, per model: partitions in the lake, open quarantines, scoring, the last monitoring
result, and the registered versions with their gate decisions and aliases. One collection of facts,
shown by `nightshift status` and by the Models page in the Airflow UI."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nightshift.data.lake import Lake
from nightshift.model.aggregates import ZONE, definition, describe_gaps
from nightshift.model.registry import CHALLENGER, CHAMPION, PREVIOUS, RegisteredVersion, Registry
from nightshift.settings import Settings
from nightshift.spec import ModelSpec, load_models_folder, load_spec, spec_path

ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)


@dataclass(frozen=True)
class VersionStatus:
    version: str
    aliases: list[str]
    registered: str        # when the version was registered (UTC)
    estimator: str         # the family (nightshift.model.families) or the custom function
    params: str            # the spec's model.params it was trained with, "key=value ..."
    tuning: str            # "N trials" when a search chose it, or whose search's winner it is
    train_window: str
    train_rows: str
    decision: str
    primary_metric: str
    failed_checks: str
    promoted: str = ""     # when it became champion through the gate, and whom it replaced
    approval: str = ""     # a human's answer at the gate (`approval: manual`)
    rollback: str = ""     # the last rollback that made it champion again: when, by whom, why
    monitored_to: str = ""  # the last day its monitoring judged, while champion


@dataclass(frozen=True)
class FeaturesStatus:
    """What features/<model>/ holds: the days materialised, those of the spec's current aggregates (a spec
    whose aggregates changed has them computed again), and the history days they could not read. Whether a
    table's history changed since it was written is judged when it is read, not here."""

    days: list[dt.date]
    current: list[dt.date]
    left_out: dict[str, str]  # ISO day -> quarantined or missing

    def summary(self) -> str:
        span = f" ({self.days[0]}..{self.days[-1]})" if self.days else ""
        return (f"{len(self.days)} days materialised{span}, {len(self.current)} of the spec's current aggregates; "
                f"history days left out: {describe_gaps(self.left_out)}")


def features_status(spec: ModelSpec, lake: Lake) -> FeaturesStatus | None:
    """What features/<model>/ holds, for a spec with rolling aggregates (one manifest read per day)."""
    if not spec.features.aggregates:
        return None
    manifests = {day: lake.manifest(ZONE, spec.name, day) or {} for day in lake.days(ZONE, spec.name)}
    current = definition(spec)
    return FeaturesStatus(days=sorted(manifests),
                          current=[day for day, manifest in manifests.items() if manifest.get("definition") == current],
                          left_out={day: why for manifest in manifests.values()
                                    for day, why in manifest.get("left_out", {}).items()})


@dataclass(frozen=True)
class ModelStatus:
    model: str
    dataset: str
    lake_uri: str
    tracking_uri: str
    validated: list[dt.date]
    quarantine_reports: dict[dt.date, str]   # open quarantines: day -> its report
    features: FeaturesStatus | None          # the rolling aggregates' tables, for a spec that has aggregates
    scored: list[dt.date]
    scored_by: str | None                    # the version that scored the last day
    monitoring: str | None                   # the champion's last monitoring result
    versions: list[VersionStatus]

    def aliased(self, alias: str) -> VersionStatus | None:
        return next((version for version in self.versions if alias in version.aliases), None)

    def version_link(self, version: str) -> str | None:
        """The version's page in the MLflow UI, when MLflow is a server."""
        if not self.tracking_uri.startswith("http"):
            return None
        return f"{self.tracking_uri.rstrip('/')}/#/models/{self.model}/versions/{version}"


def model_versions(registry: Registry, model: str) -> list[VersionStatus]:
    """Every registered version of a model, oldest first."""
    aliases: dict[str, list[str]] = {}
    for alias in ALIASES:
        if (version := registry.alias_version(model, alias)) is not None:
            aliases.setdefault(version, []).append(alias)
    return [_version_status(found, aliases.get(found.version, [])) for found in registry.versions(model)]


def _version_status(found: RegisteredVersion, aliases: list[str]) -> VersionStatus:
    tags = found.tags
    promoted = f"{tags['promoted.at']}, replacing {tags['promoted.replaced']}" if "promoted.at" in tags else ""
    approval = (f"{tags['approval.decision']} by {tags['approval.by']}: {tags['approval.reason']}"
                if "approval.decision" in tags else "")
    rollback = (f"{tags['rollback.at']} by {tags['rollback.by']}, from v{tags['rollback.from_version']}: "
                f"{tags['rollback.reason']}" if "rollback.at" in tags else "")
    return VersionStatus(
        version=found.version, aliases=aliases, registered=found.registered.strftime("%Y-%m-%d %H:%M"),
        estimator=tags.get("estimator", "-"), params=tags.get("params", "-"), tuning=tags.get("tuning", "-"),
        train_window=tags.get("train_window", "-"), train_rows=tags.get("train_rows", "-"),
        decision=tags.get("gate.decision", "not evaluated"), primary_metric=tags.get("gate.primary_metric", "-"),
        failed_checks=tags.get("gate.failed_checks", "-"), promoted=promoted, approval=approval, rollback=rollback,
        monitored_to=tags.get("monitoring.last_as_of", ""))


def model_status(settings: Settings, model: str, registry: Registry | None = None) -> ModelStatus:
    """The model's facts; `registry` is opened here unless the caller shows several models with one."""
    spec = load_spec(spec_path(settings.models_dir, model))
    lake, registry, dataset = Lake.from_uri(settings.lake_uri), registry or Registry.from_env(), spec.source.dataset
    scored = lake.days("predictions", model)
    monitoring = None
    if (champion := registry.alias_version(model, CHAMPION)) is not None:
        tags = registry.version_tags(model, champion)
        if "monitoring.last_as_of" in tags:
            monitoring = (f"champion v{champion} up to {tags['monitoring.last_as_of']}: "
                          f"breaches {tags['monitoring.breaches']}")
    return ModelStatus(
        model=model, dataset=dataset, lake_uri=settings.lake_uri, tracking_uri=settings.mlflow_tracking_uri,
        validated=lake.days("validated", dataset),
        quarantine_reports={day: lake.file_uri("quarantine", dataset, day, "report.txt")
                            for day in lake.days("quarantine", dataset)},
        features=features_status(spec, lake),
        scored=scored,
        scored_by=lake.manifest("predictions", model, scored[-1])["model_version"] if scored else None,
        monitoring=monitoring,
        versions=model_versions(registry, model),
    )


def print_overview(settings: Settings) -> None:
    """Every spec of the models folder: its champion, its last retrain and the gate's decision, open
    quarantines and the last monitoring result; a spec that does not load, with its error (its model has
    no DAGs until it is fixed)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    folder = load_models_folder(settings.models_dir)
    table = Table(title=f"models in {settings.models_dir} (MLflow {settings.mlflow_tracking_uri})")
    for column in ("model", "task / family", "champion", "last retrain", "open quarantines", "last monitoring"):
        table.add_column(column)
    registry = Registry.from_env()
    for name, spec in folder.specs.items():
        try:
            status = model_status(settings, name, registry)
        except Exception as error:  # noqa: BLE001 - one model that cannot be read must not hide the others
            table.add_row(name, f"{spec.task} / {spec.model.builder}", f"[red]cannot read[/red]: {escape(str(error))}",
                          "-", "-", "-")
            continue
        champion, last = status.aliased(CHAMPION), (status.versions or [None])[-1]
        quarantined = sorted(status.quarantine_reports)
        table.add_row(
            name, f"{spec.task} / {spec.model.builder}",
            f"v{champion.version} {champion.primary_metric}" if champion else "none",
            f"v{last.version} {last.registered}: {last.decision}" if last else "never",
            f"{len(quarantined)}: {', '.join(map(str, quarantined[:3]))}{' ...' if len(quarantined) > 3 else ''}"
            if quarantined else "none",
            escape(status.monitoring) if status.monitoring else "not yet")
    for name, error in folder.broken.items():
        table.add_row(name, "[red]spec does not load[/red]", escape(str(error)), "-", "-", "-")
    Console(width=200).print(table)


def print_status(settings: Settings, model: str) -> None:
    from rich.console import Console
    from rich.table import Table

    status, console = model_status(settings, model), Console(width=200)
    validated, quarantined = status.validated, status.quarantine_reports
    console.print(f"[bold]{model}[/bold]  lake {status.lake_uri}")
    span = f" ({validated[0]}..{validated[-1]})" if validated else ""
    console.print(f"  {status.dataset}: {len(validated)} days validated{span}, {len(quarantined)} quarantined: "
                  f"{', '.join(map(str, quarantined)) or 'none'}")
    for report in quarantined.values():
        console.print(f"    report: {report}")
    if status.features:
        console.print(f"  features/{model}: {status.features.summary()}")
    console.print(f"  predictions: {len(status.scored)} days scored" + (
        f", the last {status.scored[-1]} by champion v{status.scored_by}" if status.scored else ""))
    if status.monitoring:
        console.print(f"  monitoring of {status.monitoring}")
    table = Table(title=f"{model} versions (MLflow {status.tracking_uri})")
    for column in ("version", "aliases", "registered", "estimator", "params", "tuning", "trained on", "rows",
                   "holdout metric", "gate", "failed checks"):
        table.add_column(column)
    for row in status.versions:
        table.add_row(row.version, ", ".join(row.aliases), row.registered, row.estimator, row.params, row.tuning,
                      row.train_window, row.train_rows, row.primary_metric, row.decision, row.failed_checks)
    console.print(table)
