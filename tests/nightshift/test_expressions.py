"""What a derived feature may compute (nightshift.expressions): pandas' DataFrame.eval, which computes
derived features, can reach Python, so a spec is refused at load when an expression would."""

import re

import pytest
import yaml

from nightshift.spec import SpecError, load_spec
from tests.conftest import DEMO_SPEC
from tests.nightshift.test_spec import write_spec


def yaml_features() -> dict:
    """The demo spec's features section, to change and write back."""
    return yaml.safe_load(DEMO_SPEC.read_text())["features"]


@pytest.mark.parametrize(("expression", "refused"), [
    ("@pd.io.common.os.system('touch ran')", "@"),
    ("distance.__class__", "distance.__class__"),
    ("distance.to_csv('/tmp/out.csv')", "distance.to_csv('/tmp/out.csv')"),
    ("date.dt.year.to_pickle('out')", "date.dt.year.to_pickle('out')"),
    ("eval('1')", "eval('1')"),
    ("distance[0]", "distance[0]"),
    ("2 ** 2 ** 20", "2 ** 2 ** 20"),                            # hours of CPU in C, out of the timeout's reach
    ("carrier.str.repeat(10 ** 6)", "carrier.str.repeat(10 ** 6)"),  # a worker's memory
    ("carrier.str.contains('(a+)+$')", "carrier.str.contains('(a+)+$')"),  # catastrophic backtracking
    ("distance * 1e300", "1e+300"),
])
def test_a_derived_feature_that_reaches_python_is_refused_at_load(tmp_path, expression, refused):
    features = yaml_features()
    features["derived"]["escape"] = expression
    with pytest.raises(SpecError, match=rf"features.derived: Value error, escape: .*{re.escape(repr(refused))} is not"):
        load_spec(write_spec(tmp_path, features=features))


def test_derived_features_may_use_columns_operators_math_and_the_dt_and_str_accessors(tmp_path):
    features = yaml_features()
    features["derived"].update(log_distance="log(distance) * 2", early="(sched_dep_time < 700) & ~(month == 12)",
                               carrier_lower="carrier.str.lower()", hour="time_hour.dt.strftime('%H')")
    assert "carrier_lower" in load_spec(write_spec(tmp_path, features=features)).features.derived
