"""The Models page of the Airflow UI (served by plugins/nightshift_models.py): one row per model with what
`nightshift status` shows, the last runs of its DAGs, its primary metric and the gate's decisions over its
versions, and links to MLflow, the runs, and each quarantined day's report and Data Docs page. A model's
history page lists its versions: metric, gate decision and failed checks, who promoted or rolled back,
and links to the gate's report and plot and the monitor's drift plot. The plugin serves those files from
the lake and the registry, so that a browser opens them whatever the storage."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import quote

import jinja2

from nightshift.data.expectations import DATA_DOCS
from nightshift.data.lake import Lake
from nightshift.model.registry import Registry
from nightshift.operate.status import ALIASES, ModelStatus, VersionStatus
from nightshift.settings import Settings
from nightshift.spec import load_models_folder

TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("nightshift.airflow"), autoescape=True,
                               undefined=jinja2.StrictUndefined)
TEXT, HTML, PNG = "text/plain; charset=utf-8", "text/html; charset=utf-8", "image/png"
# What the pages link to for a quarantined day, with the media type each is served as.
QUARANTINE_FILES = {"report.txt": TEXT, DATA_DOCS: HTML}
# What the history page links to in a version's run (see nightshift.model.gate and nightshift.operate.monitor).
VERSION_FILES = re.compile(r"gate/report\.(txt|png)|monitoring/\d{4}-\d{2}-\d{2}/(report\.txt|drift\.png)")
HISTORY_WIDTH, HISTORY_HEIGHT, HISTORY_PAD = 160, 40, 5


@dataclass(frozen=True)
class RunSummary:
    dag_id: str
    run_id: str
    state: str
    run_after: str

    @property
    def kind(self) -> str:
        return self.dag_id.rsplit("__", 1)[-1]

    @property
    def href(self) -> str:
        """The run's page in the Airflow UI."""
        return f"/dags/{quote(self.dag_id)}/runs/{quote(self.run_id, safe='')}"


@dataclass(frozen=True)
class Point:
    version: str
    value: float
    decision: str
    x: float
    y: float

    @property
    def css(self) -> str:
        return self.decision if self.decision in ("promote", "reject") else "other"


@dataclass(frozen=True)
class History:
    """The primary metric on its holdout of each version the gate judged, oldest first, as a small chart."""

    metric: str
    points: list[Point]
    width: int = HISTORY_WIDTH
    height: int = HISTORY_HEIGHT

    @property
    def line(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)

    @property
    def low(self) -> float:
        return min(point.value for point in self.points)

    @property
    def high(self) -> float:
        return max(point.value for point in self.points)


def history(versions: list[VersionStatus]) -> History:
    """Each version's `metric=value` on its own holdout, placed left (oldest) to right, low to high."""
    judged = [(version, *version.primary_metric.split("=", 1)) for version in versions
              if "=" in version.primary_metric]
    if not judged:
        return History("", [])
    values = [float(value) for _, _, value in judged]
    low, spread = min(values), (max(values) - min(values)) or 1.0
    step = (HISTORY_WIDTH - 2 * HISTORY_PAD) / max(len(judged) - 1, 1)
    points = [Point(version.version, value, version.decision, HISTORY_PAD + index * step,
                    HISTORY_PAD + (1 - (value - low) / spread) * (HISTORY_HEIGHT - 2 * HISTORY_PAD))
              for index, ((version, _, _), value) in enumerate(zip(judged, values, strict=True))]
    return History(judged[-1][1], points)


def quarantine_links(model: str, day: dt.date) -> dict[str, str]:
    """The day's report and Data Docs as the plugin serves them (relative to the page)."""
    return {"report": f"models/{quote(model)}/quarantine/{day}/report.txt",
            "data_docs": f"models/{quote(model)}/quarantine/{day}/{DATA_DOCS}"}


@dataclass(frozen=True)
class Row:
    model: str
    status: ModelStatus | None = None
    error: str = ""
    runs: tuple[RunSummary, ...] = ()

    @property
    def history(self) -> History:
        return history(self.status.versions)

    @property
    def quarantines(self) -> list[tuple[dt.date, dict[str, str]]]:
        return [(day, quarantine_links(self.model, day)) for day in self.status.quarantine_reports]

    @property
    def history_href(self) -> str:
        return f"models/{quote(self.model)}/history"


def render(statuses: list[ModelStatus | tuple[str, Exception]], runs: dict[str, list[RunSummary]]) -> str:
    """The page; a model whose facts could not be read shows the error in its row."""
    rows = [Row(status[0], error=f"{type(status[1]).__name__}: {status[1]}") if isinstance(status, tuple)
            else Row(status.model, status, runs=tuple(runs.get(status.model, []))) for status in statuses]
    return TEMPLATES.get_template("models.html").render(rows=rows, aliases=ALIASES)


def render_history(status: ModelStatus) -> str:
    """A model's versions, newest first, with the chart of their metric."""
    return TEMPLATES.get_template("history.html").render(
        model=status.model, status=status, versions=status.versions[::-1], history=history(status.versions))


def version_file(registry: Registry, model: str, version: str, path: str) -> tuple[bytes, str]:
    """A gate or monitoring report or plot of a version, with its media type. LookupError when the path
    is not one the history page links to, or the version's run has no such file."""
    if not VERSION_FILES.fullmatch(path):
        raise LookupError(f"{path!r} is not a gate or monitoring report of a version")
    try:
        body = registry.run_artifact(model, version, path)
    except Exception as err:  # noqa: BLE001 - MLflow's errors for a missing model, version or file vary by store
        raise LookupError(f"{model} v{version}: no {path} ({type(err).__name__}: {err})") from None
    return body, PNG if path.endswith(".png") else TEXT


def quarantine_file(settings: Settings, model: str, day: dt.date, name: str) -> bytes:
    """A quarantined day's report or Data Docs page, for the page's links. LookupError when the model,
    the day or the file is not one the page links to."""
    if name not in QUARANTINE_FILES:
        raise LookupError(f"{name!r} is not a quarantine file; one of {sorted(QUARANTINE_FILES)}")
    spec = load_models_folder(settings.models_dir).specs.get(model)
    if spec is None:
        raise LookupError(f"no model {model!r} in {settings.models_dir}")
    lake, dataset = Lake.from_uri(settings.lake_uri), spec.source.dataset
    if day not in lake.days("quarantine", dataset):
        raise LookupError(f"{dataset} {day} is not quarantined")
    try:
        return lake.read_attachment("quarantine", dataset, day, name)
    except FileNotFoundError:
        raise LookupError(f"{dataset} {day} was quarantined without {name}") from None
