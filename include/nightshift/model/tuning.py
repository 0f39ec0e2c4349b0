"""Candidates and search: which configuration of the model a retrain fits, chosen on a validation split.

The newest `windows.validation_days` of the training window judge every trial on the gate's primary
metric: the spec's own estimator and params first, then each of `model.candidates`, then `model.search`'s
Optuna trials (TPE, seeded by `model.seed`) until its trial count or time budget runs out. The holdout is
never read here: it judges the refit winner at the gate, against the champion, like any challenger.

A trial that fails is recorded with its error and the search goes on; when every trial fails, a ModelError
lists their errors. The winner is recorded on the registered model (`tuned.*` tags), so that retrains
between two searches (`schedule.tune`) fit what the last search found: one fit, not a search.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from nightshift.data.lake import Lake
from nightshift.failures import ModelError
from nightshift.spec import ModelSpec, Param

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """One way to build the model: a family (or the custom function) and its params."""

    estimator: str
    params: dict[str, Param]

    def on(self, spec: ModelSpec) -> ModelSpec:
        """`spec` building this configuration; its candidates and search stay as they are, except that a
        candidate of another family drops the search, whose space is the spec's family's parameters (the spec
        would not load again: a version's spec is validated when it is read back)."""
        if spec.model.custom:
            return spec.model_copy(update={"model": spec.model.model_copy(update={"params": self.params})})
        search = spec.model.search if self.estimator == spec.model.estimator else None
        return spec.model_copy(update={"model": spec.model.model_copy(update={
            "estimator": self.estimator, "params": self.params, "search": search})})


@dataclass(frozen=True)
class Trial:
    number: int
    source: str                 # "spec", "candidate" or "search"
    config: Config
    metric: float | None        # on the validation days; None when the trial failed
    fit_seconds: float
    error: str = ""

    def row(self) -> dict:
        return {**asdict(self), "config": asdict(self.config)}


@dataclass(frozen=True)
class Tuning:
    best: Config
    trials: list[Trial]
    metric: str
    validation: list[dt.date]

    def leaderboard(self, higher_is_better: bool) -> list[Trial]:
        """Trials best first, the failed ones last."""
        return sorted(self.trials, key=lambda t: (t.metric is None, -(t.metric or 0) if higher_is_better
                                                  else (t.metric or 0)))

    def record(self, spec: ModelSpec) -> dict[str, str]:
        """What the registered model keeps of this search, for the retrains until the next one."""
        return {"tuned.config": json.dumps(asdict(self.best)), "tuned.key": tuning_key(spec),
                "tuned.at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "tuned.trials": str(len(self.trials))}

    def table(self, higher_is_better: bool) -> str:
        lines = [f"TUNING {len(self.trials)} trials on {self.metric}, judged on {self.validation[0]}.."
                 f"{self.validation[-1]}; best: {self.best.estimator} {self.best.params}",
                 f"{'#':>3} {'source':<9} {'estimator':<24} {self.metric:>9} {'fit s':>6}  params"]
        for trial in self.leaderboard(higher_is_better):
            value = "failed" if trial.metric is None else f"{trial.metric:.4f}"
            lines.append(f"{trial.number:>3} {trial.source:<9} {trial.config.estimator:<24} {value:>9} "
                         f"{trial.fit_seconds:>6.1f}  {trial.config.params}{'  ' + trial.error if trial.error else ''}")
        return "\n".join(lines)


def own_config(spec: ModelSpec) -> Config:
    return Config(spec.model.builder, dict(spec.model.params))


def recorded_config(spec: ModelSpec, model_tags: dict[str, str]) -> Config:
    """The last search's winner when it was chosen for this model section; else the spec's own model."""
    if model_tags.get("tuned.key") == tuning_key(spec):
        return Config(**json.loads(model_tags["tuned.config"]))
    return own_config(spec)


def last_tuned(spec: ModelSpec, model_tags: dict[str, str]) -> dt.datetime | None:
    """When the recorded winner was searched for this model section."""
    if model_tags.get("tuned.key") != tuning_key(spec):
        return None
    return dt.datetime.fromisoformat(model_tags["tuned.at"])


def tuning_key(spec: ModelSpec) -> str:
    """What a recorded winner was chosen among: a changed model section (or task) makes it stale."""
    chosen_among = json.dumps([spec.task, spec.model.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(chosen_among.encode()).hexdigest()[:12]


def tune(spec: ModelSpec, lake: Lake, train: list[dt.date]) -> Tuning:
    """Trials on the training days only: fit on all but the newest `windows.validation_days`, judged on
    those (multiclass: `spec` names the classes the version learns)."""
    import optuna

    from nightshift.model.inputs import predict, window_features
    from nightshift.model.metrics import compute_metrics
    from nightshift.model.train import build_pipeline, fit_rows

    fit_days, validation = train[:-spec.windows.validation_days], train[-spec.windows.validation_days:]
    if not fit_days:
        raise ModelError(f"tuning needs training days before the {len(validation)} validation days; the window "
                         f"has {len(train)}", kind="training", hint="Lower windows.validation_days.")
    fit, check = (fit_rows(spec, window_features(spec, lake, days)) for days in (fit_days, validation))
    metric, higher_is_better = spec.gate.primary_metric, spec.metric_directions[spec.gate.primary_metric]
    trials: list[Trial] = []

    def run_trial(source: str, config: Config) -> float:
        """The trial's metric, recorded; NaN when it failed (Optuna records a NaN trial as failed)."""
        started = time.perf_counter()
        try:
            model = build_pipeline(config.on(spec)).fit(fit.X, fit.y)
            predictions = predict(model, spec.task, check.X)
            if spec.task == "multiclass":
                predictions = on_window_classes(predictions, model.classes_, len(spec.target.classes))
            value = compute_metrics(spec.task, check.y, predictions)[metric]
            error = "" if not math.isnan(value) else f"{metric} is NaN on the validation days"
        except Exception as err:  # noqa: BLE001 - a trial that fails is recorded, and the search goes on
            value, error = math.nan, f"{type(err).__name__}: {err}"
        trials.append(Trial(len(trials), source, config, None if error else value, time.perf_counter() - started,
                            error))
        return value

    started = time.monotonic()
    run_trial("spec", own_config(spec))
    for candidate in spec.model.candidates:
        run_trial("candidate", Config(candidate.estimator, dict(candidate.params)))
    search = spec.model.search
    if search and (left := search.budget_minutes * 60 - (time.monotonic() - started)) > 0:
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are in the leaderboard
        study = optuna.create_study(direction="maximize" if higher_is_better else "minimize",
                                    sampler=optuna.samplers.TPESampler(seed=spec.model.seed))
        study.optimize(lambda trial: run_trial("search", Config(spec.model.builder, {
            **spec.model.params, **{name: _suggest(trial, name, space) for name, space in search.space.items()}})),
            n_trials=search.trials, timeout=left)
    done = [trial for trial in trials if trial.metric is not None]
    if not done:
        raise ModelError(f"every one of the {len(trials)} tuning trials failed", kind="training",
                         evidence="\n".join(f"trial {t.number} {t.config.estimator} {t.config.params}: {t.error}"
                                            for t in trials),
                         hint="Fix the candidates or the search space in the spec.")
    result = Tuning(best=min(done, key=lambda t: -t.metric if higher_is_better else t.metric).config,
                    trials=trials, metric=metric, validation=validation)
    log.info("\n%s", result.table(higher_is_better))
    return result


def on_window_classes(probabilities: np.ndarray, fitted_codes: np.ndarray, classes: int) -> np.ndarray:
    """A trial's multiclass probabilities over all the window's classes. The trial's fit days may lack a
    class that only the validation days hold: its probability is 0, as the gate counts a class a version
    never learned."""
    import numpy as np

    aligned = np.zeros((len(probabilities), classes))
    aligned[:, np.asarray(fitted_codes, dtype="int64")] = probabilities
    return aligned


def _suggest(trial, name: str, space) -> Param:
    if space.choices is not None:
        return trial.suggest_categorical(name, space.choices)
    if isinstance(space.low, int) and isinstance(space.high, int) and not space.log:
        return trial.suggest_int(name, space.low, space.high)
    if isinstance(space.low, int) and isinstance(space.high, int):
        return trial.suggest_int(name, space.low, space.high, log=True)
    return trial.suggest_float(name, space.low, space.high, log=space.log)


def tuning_due(spec: ModelSpec, last_tuned: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether this retrain searches: with candidates or a search, every retrain unless `schedule.tune`
    is set; then the first one after each of its ticks (and the first ever)."""
    from croniter import croniter

    if not spec.model.tuned:
        return False
    if spec.schedule.tune is None or last_tuned is None:
        return True
    return croniter(spec.schedule.tune, last_tuned).get_next(dt.datetime) <= now

