"""The estimator families a spec chooses by name (`model.estimator`): the scikit-learn-compatible class for
each task, the preprocessing the family needs, the parameters it takes and the types its stored model holds.

Every family's fitted pipeline is stored with skops. XGBoost's and LightGBM's estimators hold a booster that
skops keeps in the library's own format (XGBoost's serialised buffer, LightGBM's text model) and loads with
the library's own parser, so no family's model runs pickled code when it is loaded.

Nothing here imports scikit-learn, XGBoost or LightGBM: specs are checked when the DAG folder is parsed,
where those imports would cost seconds per parse. The parameter lists are the estimators' own
`get_params()` keys (tests/nightshift/model/test_families.py fails when an upgrade changes them).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

Task = Literal["classification", "regression", "multiclass"]
# How the features reach the estimator:
#   native: categoricals ordinal-encoded and declared to the estimator, missing values left to it;
#   ordinal: categoricals ordinal-encoded (unknown and missing: -1), missing numbers left to the trees;
#   linear: categoricals one-hot encoded (missing is a category), numbers median-imputed and scaled.
Preprocessing = Literal["native", "ordinal", "linear"]
# Set by Nightshift from the spec; a spec that also sets them in `model.params` is refused.
RESERVED = {"random_state": "model.seed", "categorical_features": "features.categorical"}

_FOREST = frozenset({
    "bootstrap", "ccp_alpha", "criterion", "max_depth", "max_features", "max_leaf_nodes", "max_samples",
    "min_impurity_decrease", "min_samples_leaf", "min_samples_split", "min_weight_fraction_leaf",
    "monotonic_cst", "n_estimators", "n_jobs", "oob_score", "random_state", "verbose", "warm_start"})
_HIST = frozenset({
    "categorical_features", "early_stopping", "interaction_cst", "l2_regularization", "learning_rate", "loss",
    "max_bins", "max_depth", "max_features", "max_iter", "max_leaf_nodes", "min_samples_leaf", "monotonic_cst",
    "n_iter_no_change", "random_state", "scoring", "tol", "validation_fraction", "verbose", "warm_start"})
_XGBOOST = frozenset({
    "base_score", "booster", "callbacks", "colsample_bylevel", "colsample_bynode", "colsample_bytree", "device",
    "early_stopping_rounds", "enable_categorical", "eval_metric", "feature_types", "feature_weights", "gamma",
    "grow_policy", "importance_type", "interaction_constraints", "learning_rate", "max_bin", "max_cat_threshold",
    "max_cat_to_onehot", "max_delta_step", "max_depth", "max_leaves", "min_child_weight", "missing",
    "monotone_constraints", "multi_strategy", "n_estimators", "n_jobs", "num_parallel_tree", "objective",
    "random_state", "reg_alpha", "reg_lambda", "sampling_method", "scale_pos_weight", "subsample", "tree_method",
    "validate_parameters", "verbosity"})
_LIGHTGBM = frozenset({
    "boosting_type", "class_weight", "colsample_bytree", "importance_type", "learning_rate", "max_depth",
    "min_child_samples", "min_child_weight", "min_split_gain", "n_estimators", "n_jobs", "num_leaves", "objective",
    "random_state", "reg_alpha", "reg_lambda", "subsample", "subsample_for_bin", "subsample_freq"})
# LightGBM logs a warning line per boosting round that finds no split; a task log needs none of them.
_LIGHTGBM_DEFAULTS = {"verbose": -1}
_TREE_TYPES = ("sklearn.tree._tree.Tree",)
_LINEAR_TYPES = ("numpy.dtype",)


@dataclass(frozen=True)
class Estimator:
    """One family's scikit-learn class for one task."""

    path: str              # "module:Class"
    params: frozenset[str]  # what a spec may set: get_params()' keys and the defaults' keys
    defaults: dict[str, object] = field(default_factory=dict)  # Nightshift's, where the estimator's own do not fit

    def new(self, seed: int, **params):
        module, name = self.path.split(":")
        return getattr(importlib.import_module(module), name)(random_state=seed, **{**self.defaults, **params})


@dataclass(frozen=True)
class Family:
    name: str
    preprocessing: Preprocessing
    by_task: dict[str, Estimator]
    trusted_types: tuple[str, ...]  # beyond skops' defaults, what loading its pipeline needs

    def estimator(self, task: Task) -> Estimator:
        return self.by_task[_kind(task)]


def _kind(task: Task) -> str:
    """Every classifier here learns two classes or more: a multiclass task uses the classification one."""
    return "classification" if task == "multiclass" else task


FAMILIES = {family.name: family for family in [
    Family("hist_gradient_boosting", "native", {
        "classification": Estimator("sklearn.ensemble:HistGradientBoostingClassifier", _HIST | {"class_weight"}),
        "regression": Estimator("sklearn.ensemble:HistGradientBoostingRegressor", _HIST | {"quantile"}),
    }, ("functools.partial", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.utils.validation.check_array")),
    Family("random_forest", "ordinal", {
        "classification": Estimator("sklearn.ensemble:RandomForestClassifier", _FOREST | {"class_weight"}),
        "regression": Estimator("sklearn.ensemble:RandomForestRegressor", _FOREST),
    }, _TREE_TYPES),
    Family("extra_trees", "ordinal", {
        "classification": Estimator("sklearn.ensemble:ExtraTreesClassifier", _FOREST | {"class_weight"}),
        "regression": Estimator("sklearn.ensemble:ExtraTreesRegressor", _FOREST),
    }, _TREE_TYPES),
    Family("logistic_regression", "linear", {
        "classification": Estimator("sklearn.linear_model:LogisticRegression", frozenset({
            "C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio", "max_iter", "n_jobs",
            "penalty", "random_state", "solver", "tol", "verbose", "warm_start"})),
    }, _LINEAR_TYPES),
    Family("ridge", "linear", {
        "regression": Estimator("sklearn.linear_model:Ridge", frozenset({
            "alpha", "copy_X", "fit_intercept", "max_iter", "positive", "random_state", "solver", "tol"})),
    }, _LINEAR_TYPES),
    Family("elastic_net", "linear", {
        "regression": Estimator("sklearn.linear_model:ElasticNet", frozenset({
            "alpha", "copy_X", "fit_intercept", "l1_ratio", "max_iter", "positive", "precompute", "random_state",
            "selection", "tol", "warm_start"})),
    }, _LINEAR_TYPES),
    Family("xgboost", "ordinal", {
        "classification": Estimator("xgboost:XGBClassifier", _XGBOOST),
        "regression": Estimator("xgboost:XGBRegressor", _XGBOOST),
    }, ("xgboost.core.Booster", "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor")),
    Family("lightgbm", "ordinal", {
        "classification": Estimator("lightgbm:LGBMClassifier", _LIGHTGBM | set(_LIGHTGBM_DEFAULTS),
                                    _LIGHTGBM_DEFAULTS),
        "regression": Estimator("lightgbm:LGBMRegressor", _LIGHTGBM | set(_LIGHTGBM_DEFAULTS), _LIGHTGBM_DEFAULTS),
    }, ("collections.OrderedDict", "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor")),
]}
EstimatorName = Literal["hist_gradient_boosting", "random_forest", "extra_trees", "logistic_regression", "ridge",
                        "elastic_net", "xgboost", "lightgbm"]


def check_params(name: str, task: Task, params: dict, where: str = "params") -> None:
    """ValueError naming what is wrong when the family has no estimator for the task, or `params` (the
    spec's `where`) holds a key its estimator does not take (or one Nightshift sets itself)."""
    family = FAMILIES[name]
    if _kind(task) not in family.by_task:
        fits = sorted(other.name for other in FAMILIES.values() if _kind(task) in other.by_task)
        raise ValueError(f"estimator: {name!r} is for {' and '.join(family.by_task)} only; for {task}, use one "
                         f"of: {', '.join(fits)}")
    estimator = family.estimator(task)
    for key in params:
        if key in RESERVED:
            raise ValueError(f"{where}.{key}: set by Nightshift from `{RESERVED[key]}`; remove it from {where}")
        if key not in estimator.params:
            allowed = ", ".join(sorted(estimator.params - set(RESERVED)))
            raise ValueError(f"{where}.{key}: {estimator.path.split(':')[1]} takes no parameter {key!r} "
                             f"(given {params[key]!r}); its parameters: {allowed}")
