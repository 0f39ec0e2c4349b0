"""Train, gate and promote against a real MLflow registry (SQLite) on real flights data."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nightshift import gate, ingest, train, validate
from nightshift.registry import CHALLENGER, CHAMPION, PREVIOUS, ChampionChanged, Registry
from nightshift.settings import CHECKOUT

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(21)]
AS_OF = DAYS[-1]


@pytest.fixture
def registry(home) -> Registry:
    return Registry.from_env()


@pytest.fixture
def ingested(spec, lake):
    ingest.ingest_days(spec, lake, DAYS)
    validate.validate_days(spec, lake, DAYS, CHECKOUT / "include" / "expectations")
    return lake


def train_and_gate(spec, lake, registry, train_days=None):
    window = train.plan_window(spec, lake, AS_OF, train_days)
    trained = train.train_challenger(spec, lake, registry, window)
    return gate.evaluate_challenger(spec, lake, registry, trained.version, window.days("holdout"))


def test_worse_challenger_is_never_promoted(spec, ingested, registry):
    first = train_and_gate(spec, ingested, registry)
    assert first.decision == "promote" and first.champion_version is None
    registry.promote(spec.name, first.challenger_version, expected_champion=None)

    worse = train_and_gate(spec, ingested, registry, train_days=1)

    assert worse.decision == "reject"
    assert "roc_auc vs champion" in worse.failed_checks
    assert worse.champion_version == first.challenger_version
    registry.retire_challenger(spec.name, worse.challenger_version)
    assert registry.alias_version(spec.name, CHAMPION) == first.challenger_version
    assert registry.alias_version(spec.name, CHALLENGER) is None
    tags = registry.version_tags(spec.name, worse.challenger_version)
    assert tags["gate.decision"] == "reject" and tags["gate.champion_version"] == first.challenger_version
    logged = registry.client.download_artifacts(registry.run_id(spec.name, worse.challenger_version),
                                                "gate/report.json")
    assert json.loads(open(logged).read())["decision"] == "reject"


def test_promotion_is_compare_and_set(spec, ingested, registry):
    first = train_and_gate(spec, ingested, registry)
    registry.promote(spec.name, first.challenger_version, expected_champion=None)
    second = train_and_gate(spec, ingested, registry)

    with pytest.raises(ChampionChanged, match="the champion is now 1"):
        registry.promote(spec.name, second.challenger_version, expected_champion=None)
    assert registry.alias_version(spec.name, CHAMPION) == "1"

    assert registry.promote(spec.name, second.challenger_version, expected_champion="1") == "1"
    assert registry.alias_version(spec.name, CHAMPION) == second.challenger_version
    assert registry.alias_version(spec.name, PREVIOUS) == "1"


def test_training_window_never_overlaps_the_holdout(spec, ingested):
    window = train.plan_window(spec, ingested, AS_OF)
    assert window.holdout == [d.isoformat() for d in DAYS[-7:]]
    assert window.train == [d.isoformat() for d in DAYS[:-7]]
    assert not set(window.train) & set(window.holdout)
