"""The models a server answers for, following the registry: what serves each request row, and how a new
version gets there.

A version is served only after it loaded with its artifact checksum verified and answered a warm-up
request made of real validated rows through the same path as every request. Each model's current
`Routes` (champion, challenger, canary on or off) is one immutable object: a request takes it once, and
a swap replaces it whole, so no request waits for a load or sees half of a swap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nightshift.data.lake import Lake
from nightshift.failures import DataError, InfraError, ModelError
from nightshift.model.aggregates import day_tables
from nightshift.model.features import aggregate_parts, with_columns
from nightshift.model.inputs import VersionModel
from nightshift.model.registry import CHALLENGER, CHAMPION, Registry
from nightshift.operate.scoring import prediction_columns
from nightshift.operate.serving.batching import Batcher, Pending
from nightshift.operate.serving.canary import CanaryGuard, canary_rows
from nightshift.operate.serving.metrics import ServingMetrics
from nightshift.operate.serving.prediction_log import PredictionLog
from nightshift.operate.serving.requests import RequestError, RequestSchema
from nightshift.spec import ModelSpec

log = logging.getLogger(__name__)
WARM_UP_ROWS = 100
TABLES_FRESH_FOR = dt.timedelta(minutes=5)  # a day's aggregates are re-read this often: new days get validated
TABLES_KEPT = 8                            # days of aggregates held per version
CANARY_STOPPED = "serving.canary_stopped"  # version tag: why its canary was stopped, and when


@dataclass(frozen=True)
class DayAggregates:
    frame: pd.DataFrame                # the day's table, as day_tables gives it
    parts: dict[str, pd.DataFrame]     # the same, as join_aggregates takes it
    at: float                          # when it was read (monotonic seconds)


class ServedVersion:
    """A loaded, verified version, with the aggregates' tables of the days it was asked about."""

    def __init__(self, model: VersionModel, schema: RequestSchema, canary_stopped: str | None = None) -> None:
        self.model, self.schema, self.canary_stopped = model, schema, canary_stopped
        self._tables: dict[dt.date, DayAggregates] = {}
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec

    def predict(self, rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Its model inputs for checked request rows, and its predictions on them."""
        held = self._aggregates(rows["date"].dt.date.unique()) if self.spec.features.aggregates else None
        X = self.model.inputs(rows, held)
        return X, self.model.predict_inputs(X)

    def _aggregates(self, days) -> dict[str, pd.DataFrame]:
        """The aggregates of these days, as `join_aggregates` takes them (one day's: ready-made)."""
        if missing := [day for day in days if day not in self._tables]:
            with self._lock:  # one computation of a new day, however many requests ask for it
                if missing := [day for day in missing if day not in self._tables]:
                    self._compute_tables(missing)
        if len(days) == 1:
            return self._tables[days[0]].parts
        return aggregate_parts(self.spec, pd.concat([self._tables[day].frame for day in days], ignore_index=True))

    def _compute_tables(self, days: list[dt.date]) -> None:
        """Read (or compute from the validated history) the aggregates of these days; keeps the newest
        TABLES_KEPT days."""
        frame = day_tables(self.spec, self.model.lake, sorted(days)).frame
        for day in days:
            table = frame[frame["date"] == pd.Timestamp(day)]
            self._tables[day] = DayAggregates(table, aggregate_parts(self.spec, table), time.monotonic())
        for day in sorted(self._tables)[:-TABLES_KEPT]:
            del self._tables[day]

    def refresh_tables(self) -> None:
        """Re-read the days whose aggregates are older than TABLES_FRESH_FOR (a day validated since, a
        history day released), off the request path."""
        cutoff = time.monotonic() - TABLES_FRESH_FOR.total_seconds()
        if stale := [day for day, held in list(self._tables.items()) if held.at < cutoff]:
            with self._lock:
                self._compute_tables(stale)


@dataclass(frozen=True)
class Routes:
    """What answers a model's requests right now."""

    champion: ServedVersion | None = None
    challenger: ServedVersion | None = None
    canary: bool = False  # the challenger answers its share of rows


@dataclass(frozen=True)
class Answer:
    """A request's predictions, row by row, with the version that made each."""

    request_id: str
    predictions: dict[str, np.ndarray]  # prediction (and, multiclass, probability)
    versions: np.ndarray


class ServedModel:
    """One model: its routes, the thread that follows the registry, its prediction log and shadow queue."""

    def __init__(self, spec: ModelSpec, lake: Lake, registry: Registry, metrics: ServingMetrics) -> None:
        self.spec, self.lake, self.registry, self.metrics = spec, lake, registry, metrics
        self.routes = Routes()
        self.not_served: dict[str, str] = {}   # version -> why it does not load, verify or warm up
        self.waiting_for = "the first look at the registry"
        self.guard = CanaryGuard(spec.serving.canary_budget)
        self.log = PredictionLog(lake, spec.name, flush_seconds=spec.serving.log_flush_seconds,
                                 flush_rows=spec.serving.log_flush_rows, metrics=metrics)
        self._batcher = Batcher(spec.name, self._answer_batch, spec.serving.max_batch_rows)
        self._shadow: queue.Queue = queue.Queue(maxsize=64)
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._follow_forever, name=f"follow-{spec.name}", daemon=True),
                         threading.Thread(target=self._shadow_forever, name=f"shadow-{spec.name}", daemon=True)]

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self) -> None:
        self.log.start()
        self._batcher.start()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._batcher.stop()
        self._stopping.set()
        self._shadow.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self.log.close()

    # --- following the registry -------------------------------------------------------------------------

    def _follow_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self.follow()
                for served in (self.routes.champion, self.routes.challenger):
                    if served is not None:
                        served.refresh_tables()
            except Exception:  # the registry or lake is down: keep serving, look again later
                log.exception("%s: cannot follow the registry; serving %s as before", self.name, self._describe())
            self._stopping.wait(self.spec.serving.poll_seconds)

    def follow(self) -> None:
        """Read the aliases once; a version that changed is loaded, verified and warmed up here, then
        swapped in. A version that cannot serve is never swapped in: what served before goes on serving."""
        champion_version = self.registry.alias_version(self.name, CHAMPION)
        challenger_version = (self.registry.alias_version(self.name, CHALLENGER)
                              if self.spec.serving.follows_challenger else None)
        current = self.routes
        champion = self._served(champion_version, current) or current.champion
        challenger = self._served(challenger_version, current)
        if champion is None:
            self.waiting_for = ("a champion: the retrain DAG has promoted none yet" if champion_version is None else
                                f"v{champion_version}: {self.not_served.get(champion_version, 'not loaded yet')}")
        if (champion, challenger) == (current.champion, current.challenger):
            return
        if challenger is not current.challenger:
            self.guard = CanaryGuard(self.spec.serving.canary_budget)
        canary = bool(challenger and self.spec.serving.canary_percent and not challenger.canary_stopped)
        self.routes = Routes(champion, challenger, canary)
        for role, before, now in (("champion", current.champion, champion),
                                  ("challenger", current.challenger, challenger)):
            self.metrics.version.labels(self.name, role).set(int(now.version) if now else 0)
            if now is not None and now is not before:
                self.metrics.swaps.labels(self.name, role).inc()
        self.metrics.canary_active.labels(self.name).set(int(canary))
        log.info("%s: now serving %s", self.name, self._describe())

    def _served(self, version: str | None, current: Routes) -> ServedVersion | None:
        """The version ready to serve: already loaded, or loaded now; None if it cannot serve."""
        if version is None:
            return None
        for loaded in (current.champion, current.challenger):
            if loaded is not None and loaded.version == version:
                return loaded
        if version in self.not_served:
            return None
        try:
            return self._load(version)
        except (ModelError, DataError, RequestError) as err:  # will not change by trying again
            self.not_served[version] = str(err)
            self.metrics.load_failures.labels(self.name, version, getattr(err, "kind", "warm_up")).inc()
            log.error("%s: version %s is not served: %s", self.name, version, err)
        except InfraError as err:
            log.warning("%s: cannot load version %s now (%s); trying again in %g s", self.name, version, err,
                        self.spec.serving.poll_seconds)
        return None

    def _load(self, version: str) -> ServedVersion:
        started = time.perf_counter()
        model = VersionModel.load(self.registry, self.lake, self.spec, version)  # checksum verified
        dataset = model.spec.source.dataset
        validated = self.lake.days("validated", dataset)
        if not validated:
            raise InfraError(f"{dataset}: no validated day to read the columns' types from and warm up on",
                             kind="empty_window")
        # The columns' types of the newest day it was trained on (or, if that day is gone, the newest day).
        trained_on = dt.date.fromisoformat(self.registry.training_window(self.name, version)["train"][-1])
        known = self.lake.manifest("validated", dataset, trained_on) or self.lake.manifest(
            "validated", dataset, validated[-1])
        schema = RequestSchema.of(model.spec, known["schema"])
        served = ServedVersion(model, schema, self.registry.version_tags(self.name, version).get(CANARY_STOPPED))
        # Warm up on real rows through the request path: the newest validated day's first rows.
        newest = validated[-1]
        sample = self.lake.read_partition("validated", dataset, newest).head(WARM_UP_ROWS)
        served.predict(schema.check(sample, model.spec))
        # What the version holds (its model, lookups, aggregates) lives as long as it serves: out of the
        # garbage collector's full passes, which otherwise walk it every few seconds under load (100-180 ms
        # pauses, which were the p99 of a loaded server).
        gc.collect()
        gc.freeze()
        log.info("%s: version %s loaded, checksum verified and warmed up on %d rows of %s in %.1f s", self.name,
                 version, len(sample), newest, time.perf_counter() - started)
        return served

    def describe(self) -> dict:
        """What serves now, for /v1/models."""
        routes = self.routes
        return {"champion": routes.champion and routes.champion.version,
                "challenger": routes.challenger and routes.challenger.version,
                "canary_percent": self.spec.serving.canary_percent if routes.canary else 0,
                "shadow": bool(routes.challenger and self.spec.serving.shadow),
                "canary_stopped": routes.challenger and routes.challenger.canary_stopped,
                "not_served": self.not_served}

    def _describe(self) -> str:
        routes = self.routes
        if routes.champion is None:
            return "nothing"
        described = f"champion v{routes.champion.version}"
        if routes.challenger is not None:
            mode = [f"canary {self.spec.serving.canary_percent:g}%"] if routes.canary else []
            mode += ["shadow"] if self.spec.serving.shadow else []
            described += f", challenger v{routes.challenger.version} ({', '.join(mode) or 'idle'})"
        return described

    # --- answering ---------------------------------------------------------------------------------------

    def submit(self, frame: pd.DataFrame, request_id: str) -> Future:
        """A request's rows, queued to be answered with the requests waiting beside them: the future
        `Answer`. A RequestError at once for rows that do not fit the champion's schema (no rows, too many,
        a missing column); for a wrong value, from the future (a batch with one fails, and each of its
        requests is answered alone)."""
        routes = self.routes
        if routes.champion is None:
            raise RequestError(503, f"{self.name}: no version is ready; waiting for {self.waiting_for}")
        shaped = routes.champion.schema.shaped(frame)  # values are checked with the batch's
        return self._batcher.submit(Pending(shaped, request_id, time.perf_counter(), pd.Timestamp.now(tz="UTC")))

    def _answer_batch(self, batch: list[Pending]) -> list[Answer]:
        """Predictions for the rows of several requests at once: the canary's share by the challenger (by the
        champion instead, if the challenger fails), the rest by the champion. Logged; shadow-scored later."""
        routes = self.routes
        champion = routes.champion
        self.metrics.batch_requests.labels(self.name).observe(len(batch))
        sizes = [len(pending.rows) for pending in batch]
        given = pd.concat([pending.rows for pending in batch], ignore_index=True)
        rows = with_columns(champion.schema.typed(champion.schema.shaped(given), champion.spec), {
            "request_id": np.repeat([pending.request_id for pending in batch], sizes).astype(object),
            "row": np.concatenate([np.arange(size) for size in sizes]),
            "served_at": pd.DatetimeIndex([pending.served_at for pending in batch]).repeat(sizes)})
        try:
            logged = self._predicted(routes, rows)
        except DataError as err:  # a value the features cannot use (an unparseable time, say): the request's fault
            raise RequestError(400, str(err)) from None
        now = time.perf_counter()
        logged["latency_ms"] = np.repeat([(now - pending.received) * 1000 for pending in batch], sizes)
        self.log.add(logged)
        if routes.challenger is not None and self.spec.serving.shadow:
            try:
                self._shadow.put_nowait((routes.challenger, rows))
            except queue.Full:
                self.metrics.shadow_skipped.labels(self.name).inc()
        columns = {column: logged[column].to_numpy() for column in ("prediction", "probability") if column in logged}
        versions = logged["model_version"].to_numpy()
        ends = np.cumsum(sizes)
        return [Answer(pending.request_id, {column: values[end - size:end] for column, values in columns.items()},
                       versions[end - size:end]) for pending, size, end in zip(batch, sizes, ends, strict=True)]

    def _predicted(self, routes: Routes, rows: pd.DataFrame) -> pd.DataFrame:
        """The logged rows of `rows`, in their order, each predicted by the version its route picks."""
        canary = np.zeros(len(rows), dtype=bool)
        parts = []
        if routes.canary:
            canary = canary_rows(rows, self.spec.canary_key, self.spec.serving.canary_percent)
            if canary.any() and (predicted := self._canary(routes.challenger, rows[canary])) is not None:
                parts.append(self._logged(rows[canary], routes.challenger, "canary", *predicted))
            else:
                canary[:] = False
        if not canary.all():
            rest = rows[~canary]
            parts.append(self._logged(rest, routes.champion, "champion", *routes.champion.predict(rest)))
        return pd.concat(parts).sort_index() if len(parts) > 1 else parts[0]

    def _canary(self, challenger: ServedVersion, rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray] | None:
        """The challenger's inputs and predictions for the canary's rows; None (and counted against its
        budget) if it fails, so that the champion answers them."""
        started = time.perf_counter()
        try:
            predicted = challenger.predict(rows)
        except Exception:  # whatever the challenger does wrong, the request is answered
            log.exception("%s: the canary v%s failed on %d rows; the champion answers them", self.name,
                          challenger.version, len(rows))
            self.metrics.errors.labels(self.name, challenger.version, "canary").inc()
            predicted = None
        if reason := self.guard.record(predicted is not None, (time.perf_counter() - started) * 1000):
            self._stop_canary(challenger, reason)
        return predicted

    def _stop_canary(self, challenger: ServedVersion, reason: str) -> None:
        """All traffic to the champion from now on, recorded on the challenger's version (so that a restarted
        server does not start its canary again)."""
        routes = self.routes
        if not routes.canary or routes.challenger is not challenger:
            return
        self.routes = dataclasses.replace(routes, canary=False)
        challenger.canary_stopped = reason
        self.metrics.canary_active.labels(self.name).set(0)
        self.metrics.canary_stops.labels(self.name).inc()
        log.warning("%s: canary of v%s stopped: %s; the champion answers every request", self.name,
                    challenger.version, reason)
        threading.Thread(target=self._record_canary_stop, args=(challenger.version, reason), daemon=True).start()

    def _record_canary_stop(self, version: str, reason: str) -> None:
        try:
            self.registry.tag_version(self.name, version, {
                CANARY_STOPPED: f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC: {reason}"})
        except Exception:  # the registry is down: the canary is stopped all the same
            log.exception("%s: cannot record the canary stop on v%s", self.name, version)

    def _logged(self, rows: pd.DataFrame, served: ServedVersion, route: str, X: pd.DataFrame,
                predictions: np.ndarray) -> pd.DataFrame:
        """What the log keeps of rows one version answered: ids, inputs, prediction, version, route, and
        which row of which request."""
        ids = [column for column in self.spec.scoring.id_columns if column not in X.columns]
        self.metrics.rows.labels(self.name, served.version, route).inc(len(rows))
        return with_columns(pd.concat([rows[[*ids, "date", "request_id", "row", "served_at"]], X.set_axis(rows.index)],
                                      axis=1),
                            {**prediction_columns(served.model, predictions),
                             "model_version": np.full(len(rows), served.version, dtype=object),
                             "route": np.full(len(rows), route, dtype=object)})

    def _shadow_forever(self) -> None:
        """Score queued batches with the challenger and log its predictions (route `shadow`)."""
        while (item := self._shadow.get()) is not None:
            challenger, rows = item
            try:
                logged = self._logged(rows, challenger, "shadow", *challenger.predict(rows))
            except Exception:  # a failing challenger never affects what is served
                log.exception("%s: shadow scoring by v%s failed", self.name, challenger.version)
                self.metrics.errors.labels(self.name, challenger.version, "shadow").inc()
                continue
            self.log.add(logged.assign(latency_ms=np.nan))
