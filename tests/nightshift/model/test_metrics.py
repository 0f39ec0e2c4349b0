import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from nightshift.model.metrics import compute_metrics, paired_bootstrap, slice_drops


@pytest.fixture
def scored():
    rng = np.random.default_rng(7)
    y = (rng.random(5000) < 0.3).astype(int)
    good = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, len(y)), 0.01, 0.99).round(2)  # many ties
    worse = np.clip(good + rng.normal(0, 0.25, len(y)), 0.01, 0.99)
    return y, good, worse


def test_metrics_match_scikit_learn_including_ties(scored):
    y, good, _ = scored
    ours = compute_metrics("classification", y, good)
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(y, good), abs=1e-12)
    assert ours["log_loss"] == pytest.approx(sk.log_loss(y, good), abs=1e-12)
    assert ours["brier"] == pytest.approx(sk.brier_score_loss(y, good), abs=1e-12)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y, good >= 0.5), abs=1e-12)
    regression = compute_metrics("regression", y, good)
    assert regression["r2"] == pytest.approx(sk.r2_score(y, good), abs=1e-12)
    assert regression["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(y, good)), abs=1e-12)


def test_one_class_or_empty_holdout_gives_nan_not_a_crash():
    assert math.isnan(compute_metrics("classification", [1, 1, 1], [0.9, 0.8, 0.7])["roc_auc"])
    assert math.isnan(compute_metrics("classification", [], [])["log_loss"])


def test_bootstrap_is_seeded_and_brackets_the_gain(scored):
    y, good, worse = scored
    args = ("classification", "roc_auc", True, y, good, worse)
    first = paired_bootstrap(*args, confidence=0.95, resamples=400, seed=13)
    assert first == paired_bootstrap(*args, confidence=0.95, resamples=400, seed=13)
    assert first.gain == pytest.approx(sk.roc_auc_score(y, good) - sk.roc_auc_score(y, worse))
    assert 0 < first.lower < first.gain < first.upper


def test_bootstrap_of_identical_models_straddles_zero(scored):
    y, good, worse = scored
    same = paired_bootstrap("classification", "log_loss", False, y, good, good.copy(),
                            confidence=0.95, resamples=200, seed=1)
    assert same.lower == same.upper == same.gain == 0.0
    mixed = paired_bootstrap("classification", "roc_auc", True, y, worse, good, confidence=0.95, resamples=300, seed=1)
    assert mixed.upper < 0  # the worse model as challenger: the whole interval is a loss


def test_slices_find_the_broken_one(scored):
    y, good, _ = scored
    carriers = np.where(np.arange(len(y)) % 5 == 0, "UA", "AA")
    scrambled = good.copy()
    ua = carriers == "UA"
    scrambled[ua] = np.random.default_rng(0).permutation(good[ua])
    worst, undefined = slice_drops("classification", "roc_auc", True, pd.DataFrame({"carrier": carriers}), y,
                                   scrambled, good, ["carrier"], min_rows=200)
    assert worst[0].value == "UA" and worst[0].drop > 0.1
    assert abs(worst[1].drop) < 1e-12 and undefined == []
