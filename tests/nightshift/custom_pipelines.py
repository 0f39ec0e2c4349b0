"""Custom pipelines for the tests of `model.custom`, in an importable module as a team's own would be
(the fresh process that checks a model loads must import them too)."""

import numpy as np


def clipped(frame):
    """A step of the team's own: numbers clipped to +-1e6 (a stored model holds a reference to it)."""
    return frame.clip(-1e6, 1e6)


def scaled_logistic(spec):
    """One-hot categoricals, clipped and scaled numbers, a logistic regression: a team's usual model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    categorical = spec.features.categorical
    numeric = [column for column in spec.features.columns if column not in categorical]
    encode = ColumnTransformer([
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ("numeric", make_pipeline(FunctionTransformer(clipped), SimpleImputer(), StandardScaler()), numeric)])
    return make_pipeline(encode, LogisticRegression(C=spec.model.params.get("C", 1.0), max_iter=500))


def with_a_foreign_step(spec):
    """The usual model after a step from another module: its type is trusted only when the spec says so."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from tests.nightshift.slow_step import slow_identity

    return make_pipeline(FunctionTransformer(slow_identity), scaled_logistic(spec))


def not_an_estimator(spec):
    return np.zeros(3)
