"""The blessing gate: the project's eval config, judged by TFMA's own validator as TFX's Evaluator calls it.

The Evaluator fills the config's defaults (``rubber_stamp=True``: a first run has no baseline to
compare against) and blesses a model when ``metrics_validator.validate_metrics`` passes every
slice. Here the metrics are set by hand, so every side of each bound is checked exactly; the
pipeline runs that end blessed or not are in test_faults.py and test_pipeline_e2e.py.
"""

import pytest
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import config_util

from models.features import ACCURACY, LABEL
from pipeline import dag
from pipeline.config import get_config

OVERALL = ()


def blessed(accuracy: float, baseline=None, slice_key=OVERALL, **settings) -> bool:
    """Whether the Evaluator would bless a candidate of ``accuracy`` on ``slice_key`` (against ``baseline``)."""
    eval_config = config_util.update_eval_config_with_defaults(
        dag.eval_config(get_config("digits", **settings)), has_baseline=baseline is not None, rubber_stamp=True
    )
    candidate, *others = [spec.name for spec in eval_config.model_specs]
    key = metric_types.MetricKey(name=ACCURACY, model_name=candidate)
    metrics = {key: accuracy}
    if baseline is not None:
        metrics[metric_types.MetricKey(name=ACCURACY, model_name=others[0])] = baseline
        metrics[key.make_diff_key()] = accuracy - baseline
    return metrics_validator.validate_metrics((slice_key, metrics), eval_config).validation_ok


@pytest.mark.parametrize("accuracy, expected", [(0.79, False), (0.8, True), (0.81, True)])
def test_with_no_baseline_the_accuracy_lower_bound_alone_decides(accuracy, expected):
    assert blessed(accuracy, accuracy_lower_bound=0.8) is expected


def test_the_lower_bound_still_holds_against_a_worse_baseline():
    assert not blessed(0.75, baseline=0.70, accuracy_lower_bound=0.8)


@pytest.mark.parametrize(
    "accuracy, baseline, tolerance, expected",
    [
        (0.90, 0.90, 0.0, True),  # equal to the pushed model: no regression
        (0.89, 0.90, 0.0, False),  # any regression, with no tolerance
        (0.89, 0.90, 0.02, True),  # a regression within the tolerance
        (0.88, 0.90, 0.02, True),  # exactly the tolerance
        (0.87, 0.90, 0.02, False),  # a regression over it
        (0.95, 0.90, 0.0, True),  # better
    ],
)
def test_a_regression_against_the_pushed_model_is_blessed_only_within_the_tolerance(
    accuracy, baseline, tolerance, expected
):
    assert blessed(accuracy, baseline, accuracy_lower_bound=0.5, regression_tolerance=tolerance) is expected


def test_a_class_the_model_never_gets_right_blocks_the_blessing_whatever_the_overall_accuracy():
    by_label = ((LABEL, 3),)
    assert not blessed(0.0, slice_key=by_label, accuracy_lower_bound=0.5)
    assert blessed(0.01, slice_key=by_label, accuracy_lower_bound=0.5)  # the overall bound is not per class
