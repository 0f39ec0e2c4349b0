"""Train, gate and promote against a real MLflow registry (SQLite) on real flights data: degraded
challengers are never promoted. (The registry's own aliases, checksums and rollbacks: test_registry.py;
planning the window and the recorded lineage: test_train.py.)

One home for the module: the lake is ingested and the first champion trained once. Tests that move
aliases put them back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from nightshift import steps
from nightshift.model import gate, train
from nightshift.model.inputs import window_features
from nightshift.model.registry import CHALLENGER, CHAMPION, ChampionChanged
from tests.conftest import validated_world

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
AS_OF = DAYS[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The module's run: three validated weeks, no champion yet."""
    with validated_world(tmp_path_factory, "promotion", DAYS) as run:
        yield run


@pytest.fixture(scope="module")
def spec(world):
    return world.spec


@pytest.fixture(scope="module")
def ingested(world):
    return world.lake


@pytest.fixture(scope="module")
def registry(world):
    return world.registry


def train_and_gate(spec, lake, registry, train_days=None) -> gate.GateReport:
    """A challenger trained and judged as the retrain DAG does, without the fresh-process load check
    (seconds each; the load tests below run it). Forced: on the champion's own window, on purpose."""
    run = steps.Run(spec, lake)
    trained = steps.train(run, AS_OF, train_days, force=True)
    return steps.evaluate(run, trained.version, trained.window.holdout, infra_check=False)


@pytest.fixture(scope="module")
def champion(world) -> str:
    first = steps.retrain(world, AS_OF, infra_check=False)  # the load tests below run the load check
    assert first.promotion.promoted and first.report.champion_version is None
    return first.trained.version


def test_worse_challenger_is_never_promoted(spec, ingested, registry, champion):
    worse = train_and_gate(spec, ingested, registry, train_days=1)

    assert worse.decision == "reject"
    assert {"roc_auc vs champion", "roc_auc confidence"} <= set(worse.failed_checks)
    final, replaced = gate.promote_if_better(spec, ingested, registry, worse.verdict)
    assert (final.decision, replaced) == ("reject", None)
    assert registry.alias_version(spec.name, CHAMPION) == champion
    assert registry.alias_version(spec.name, CHALLENGER) is None
    tags = registry.version_tags(spec.name, worse.challenger_version)
    assert tags["gate.decision"] == "reject" and tags["gate.champion_version"] == champion
    run_id = registry.run_id(spec.name, worse.challenger_version)
    logged = json.loads(Path(registry.client.download_artifacts(run_id, "gate/report.json")).read_text())
    assert logged["decision"] == "reject" and logged["interval"]["resamples"] == 1000
    assert Path(registry.client.download_artifacts(run_id, "gate/report.png")).stat().st_size > 10_000


def test_promotion_is_compare_and_set_and_rejudges_a_moved_champion(spec, ingested, registry, champion):
    second = train_and_gate(spec, ingested, registry)
    with pytest.raises(ChampionChanged, match=f"the champion is now {champion}"):
        registry.promote(spec.name, second.challenger_version, expected_champion=None)
    assert registry.alias_version(spec.name, CHAMPION) == champion

    stale = gate.Verdict(second.challenger_version, None, "promote", [], second.holdout)
    final, _ = gate.promote_if_better(spec, ingested, registry, stale)
    # judged again against the real champion: the same data and seed give no real improvement
    assert final.champion_version == champion and final.decision == "reject"
    assert registry.alias_version(spec.name, CHAMPION) == champion


# A battery of degraded challengers, each trained on the same window as the champion and judged by
# the real gate: none may be promoted, and each must fail for its own reason.

def degraded(spec, lake, registry, *, labels=None, spec_change=None, pipeline=None,
             infra_check=False) -> gate.GateReport:
    used = spec.model_copy(update=spec_change or {})
    window = train.plan_window(used, lake, AS_OF)
    data = window_features(used, lake, window.train)
    if labels is not None:
        data = dataclasses.replace(data, y=labels(data))
    model = pipeline or train.build_pipeline(used)
    model.fit(data.X, data.y)
    trained = train.register_challenger(used, lake, registry, window, model, data, spec_hash=used.spec_hash)
    run = steps.Run(used, lake)
    report = steps.evaluate(run, trained.version, window.holdout, infra_check=infra_check)
    steps.promote(run, report.verdict)
    return report


def test_label_noise_is_rejected(spec, ingested, registry, champion):
    def flip_a_third(data):
        flipped = np.random.default_rng(0).random(len(data.y)) < 0.35
        return data.y.where(~flipped, 1 - data.y)

    report = degraded(spec, ingested, registry, labels=flip_a_third)
    assert report.decision == "reject" and "roc_auc confidence" in report.failed_checks
    assert "log_loss relative drop" in report.failed_checks  # noisy labels ruin calibration first
    assert registry.alias_version(spec.name, CHAMPION) == champion


def test_a_dropped_strong_feature_is_rejected(spec, ingested, registry, champion):
    numeric = [f for f in spec.features.numeric if f != "dep_hour"]
    report = degraded(spec, ingested, registry,
                      spec_change={"features": spec.features.model_copy(update={"numeric": numeric})})
    # the champion is scored on the inputs of the spec it was trained with (it still has dep_hour)
    assert report.decision == "reject" and "roc_auc vs champion" in report.failed_checks
    assert registry.alias_version(spec.name, CHAMPION) == champion


def test_a_broken_slice_is_rejected(spec, ingested, registry, champion):
    def invert_one_carrier(data):  # a join or export bug that corrupts one carrier's rows
        return data.y.where(data.X["carrier"] != "UA", 1 - data.y)

    report = degraded(spec, ingested, registry, labels=invert_one_carrier)
    assert report.decision == "reject" and "slices" in report.failed_checks
    assert report.slices[0].column == "carrier" and report.slices[0].value == "UA"


def test_a_model_that_cannot_load_elsewhere_is_rejected(spec, ingested, registry, champion, tmp_path,
                                                        monkeypatch):
    # A step from a module only this process has: it saves and loads here, not on a fresh worker.
    (tmp_path / "local_only_step.py").write_text("def same(frame):\n    return frame\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from local_only_step import same
    from sklearn.preprocessing import FunctionTransformer

    pipeline = train.build_pipeline(spec)
    pipeline.steps.insert(0, ("local_only", FunctionTransformer(same)))
    monkeypatch.setattr(train, "SKOPS_TRUSTED_TYPES", [*train.SKOPS_TRUSTED_TYPES, "local_only_step.same"])
    report = degraded(spec, ingested, registry, pipeline=pipeline, infra_check=True)
    assert "loads in a fresh process" in report.failed_checks
    assert "local_only_step" in report.infra_error


def test_a_much_slower_model_is_rejected_for_its_latency_budget(spec, ingested, registry, champion, monkeypatch):
    from sklearn.preprocessing import FunctionTransformer

    from tests.nightshift import slow_step

    pipeline = train.build_pipeline(spec)
    pipeline.steps.insert(0, ("slow", FunctionTransformer(slow_step.slow_identity)))
    monkeypatch.setattr(train, "SKOPS_TRUSTED_TYPES",
                        [*train.SKOPS_TRUSTED_TYPES, "tests.nightshift.slow_step.slow_identity"])
    report = degraded(spec, ingested, registry, pipeline=pipeline, infra_check=True)
    # It predicts exactly as the champion does; only its speed is wrong, and it still loads elsewhere.
    assert "budget predict_ms_per_1k_rows" in report.failed_checks
    assert report.infra_error == ""  # loaded and predicted in a fresh process
    assert report.budgets["predict_ms_per_1k_rows"] >= slow_step.SECONDS_PER_1K_ROWS * 1000  # measures its cost
    assert registry.alias_version(spec.name, CHAMPION) == champion


def test_a_retrain_on_the_champions_own_data_and_spec_is_skipped_unless_forced(world, spec, registry, champion):
    versions = len(registry.versions(spec.name))
    with pytest.raises(steps.NothingToDo, match=f"not retrained: champion v{champion} was trained with this spec"):
        steps.train(world, AS_OF)
    assert len(registry.versions(spec.name)) == versions  # nothing was fitted or registered

    window = train.plan_window(spec, world.lake, AS_OF)
    assert train.repeats_champion(spec, world.lake, registry, window)
    fewer_days = train.plan_window(spec, world.lake, AS_OF, train_days=len(window.train) - 1)
    assert train.repeats_champion(spec, world.lake, registry, fewer_days) is None
    changed = spec.model_copy(update={"model": spec.model.model_copy(update={"params": {"max_iter": 20}})})
    assert train.repeats_champion(changed, world.lake, registry, window) is None

    # A train that died hours ago left its run RUNNING; the next one to train marks it KILLED.
    experiment = registry.client.get_experiment_by_name(spec.name).experiment_id
    hours_ago = int((dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).timestamp() * 1000)
    died = registry.client.create_run(experiment, start_time=hours_ago, run_name="a train that died")
    assert steps.train(world, AS_OF, force=True).version == str(versions + 1)
    assert registry.client.get_run(died.info.run_id).info.status == "KILLED"
