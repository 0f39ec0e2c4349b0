"""What is where: partitions in the lake, model versions with their gate decisions, the aliases."""

from __future__ import annotations

from dataclasses import dataclass

from nightshift.lake import Lake
from nightshift.registry import CHALLENGER, CHAMPION, PREVIOUS, Registry
from nightshift.settings import Settings
from nightshift.spec import load_spec


@dataclass(frozen=True)
class VersionStatus:
    version: str
    aliases: list[str]
    train_window: str
    train_rows: str
    decision: str
    primary_metric: str
    failed_checks: str


def model_versions(registry: Registry, model: str) -> list[VersionStatus]:
    """Every registered version of a model, oldest first."""
    versions = registry.client.search_model_versions(f"name = '{model}'")
    aliases: dict[str, list[str]] = {}
    for alias in (CHAMPION, CHALLENGER, PREVIOUS):
        if (version := registry.alias_version(model, alias)) is not None:
            aliases.setdefault(version, []).append(alias)
    rows = []
    for mv in sorted(versions, key=lambda v: int(v.version)):
        tags = mv.tags
        rows.append(VersionStatus(
            version=str(mv.version), aliases=aliases.get(str(mv.version), []),
            train_window=tags.get("train_window", "-"), train_rows=tags.get("train_rows", "-"),
            decision=tags.get("gate.decision", "not evaluated"), primary_metric=tags.get("gate.primary_metric", "-"),
            failed_checks=tags.get("gate.failed_checks", "-"),
        ))
    return rows


def print_status(settings: Settings, model: str) -> None:
    from rich.console import Console
    from rich.table import Table

    spec = load_spec(settings.models_dir / f"{model}.yaml")
    lake, console = Lake.from_uri(settings.lake_uri), Console(width=140)
    dataset = spec.source.dataset
    validated, quarantined = lake.days("validated", dataset), lake.days("quarantine", dataset)
    console.print(f"[bold]{model}[/bold]  lake {settings.lake_uri}")
    span = f" ({validated[0]}..{validated[-1]})" if validated else ""
    console.print(f"  {dataset}: {len(validated)} days validated{span}, {len(quarantined)} quarantined: "
                  f"{', '.join(map(str, quarantined)) or 'none'}")
    for day in quarantined:
        console.print(f"    report: {lake.file_uri('quarantine', dataset, day, 'report.txt')}")
    scored = lake.days("predictions", model)
    console.print(f"  predictions: {len(scored)} days scored" + (f", the last {scored[-1]} by champion "
                  f"v{lake.manifest('predictions', model, scored[-1])['model_version']}" if scored else ""))

    registry = Registry.from_env()
    if (champion := registry.alias_version(model, CHAMPION)) is not None:
        tags = registry.version_tags(model, champion)
        if "monitoring.last_as_of" in tags:
            console.print(f"  monitoring of champion v{champion} up to {tags['monitoring.last_as_of']}: "
                          f"breaches {tags['monitoring.breaches']}")
    table = Table(title=f"{model} versions (MLflow {settings.mlflow_tracking_uri})")
    for column in ("version", "aliases", "trained on", "rows", "holdout metric", "gate", "failed checks"):
        table.add_column(column)
    for row in model_versions(registry, model):
        table.add_row(row.version, ", ".join(row.aliases), row.train_window, row.train_rows, row.primary_metric,
                      row.decision, row.failed_checks)
    console.print(table)
