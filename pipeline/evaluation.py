"""Reading the Evaluator's TFMA output into plain numbers, and the names those numbers are published under.

Shared by the step that publishes them (pipeline/metrics.py) and by ``inspection``; this module
imports no TFX or TensorFlow (TFMA loads inside the functions that read files).
"""

from typing import Optional

from models.features import ACCURACY

# TFMA's names: the example count the Evaluator computes, the baseline model of a comparison.
EXAMPLE_COUNT = "example_count"
TFMA_BASELINE = "baseline"
# The names in the published system.Metrics (what the KFP UI and Vertex AI Experiments list).
PUBLISHED_ACCURACY = "accuracy"
PUBLISHED_BASELINE_ACCURACY = "baseline_accuracy"
PUBLISHED_COUNT = "example_count"
PUBLISHED_BLESSED = "blessed"
PUBLISHED_CLASS = "accuracy_class_{label}"
PUBLISHED_BASELINE_CLASS = "baseline_accuracy_class_{label}"
# Where the confusion matrix goes in the ClassificationMetrics (the key KFP's SDK and UI use).
CONFUSION_MATRIX = "confusionMatrix"


def slice_metrics(result) -> dict:
    """``{"overall": {...}, "by_label": {label: {...}}}`` from a TFMA EvalResult sliced overall and by label."""
    metrics = {"overall": {}, "by_label": {}}
    for slice_key, by_output in result.slicing_metrics:
        values = {name: value.get("doubleValue") for name, value in by_output[""][""].items()}
        if not slice_key:
            metrics["overall"] = values
        else:
            metrics["by_label"][int(slice_key[0][1])] = values
    metrics["by_label"] = dict(sorted(metrics["by_label"].items()))
    return metrics


def read_evaluation(uri: str) -> tuple:
    """(candidate, baseline or None): ``slice_metrics`` of each model a ModelEvaluation at ``uri`` holds."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(uri)
    if not any(spec.is_baseline for spec in result.config.model_specs):
        return slice_metrics(result), None
    return slice_metrics(result), slice_metrics(tfma.load_eval_result(uri, model_name=TFMA_BASELINE))


def published_values(metrics: dict, blessed: bool, baseline: Optional[dict] = None) -> dict:
    """The numbers a ``system.Metrics`` carries, by name, from ``slice_metrics`` of the candidate (and baseline)."""
    values = {
        PUBLISHED_ACCURACY: metrics["overall"][ACCURACY],
        PUBLISHED_COUNT: metrics["overall"][EXAMPLE_COUNT],
        PUBLISHED_BLESSED: 1.0 if blessed else 0.0,
    }
    for label, by_label in metrics["by_label"].items():
        values[PUBLISHED_CLASS.format(label=label)] = by_label[ACCURACY]
    if baseline:
        values[PUBLISHED_BASELINE_ACCURACY] = baseline["overall"][ACCURACY]
        for label, by_label in baseline["by_label"].items():
            values[PUBLISHED_BASELINE_CLASS.format(label=label)] = by_label[ACCURACY]
    return values


def confusion_matrix(uri: str) -> dict:
    """The overall confusion matrix of a ModelEvaluation, as KFP's ``ClassificationMetrics`` holds it.

    ``{"annotationSpecs": [{"displayName": class}...], "rows": [{"row": [count per predicted class]}...]}``,
    one row per actual class; the counts are TFMA's ``MultiClassConfusionMatrixPlot`` at its first threshold.
    """
    import tensorflow_model_analysis as tfma

    counts, classes = {}, set()
    for plots in tfma.load_plots(uri):
        if plots.slice_key.single_slice_keys:
            continue  # the overall slice only
        for plot in plots.plot_keys_and_values:
            if plot.key.model_name == TFMA_BASELINE:
                continue  # with a baseline, TFMA keeps both models' plots
            for matrix in plot.value.multi_class_confusion_matrix_at_thresholds.matrices[:1]:
                for entry in matrix.entries:
                    classes.update((entry.actual_class_id, entry.predicted_class_id))
                    counts[entry.actual_class_id, entry.predicted_class_id] = entry.num_weighted_examples
    labels = sorted(classes)
    return {
        "annotationSpecs": [{"displayName": str(label)} for label in labels],
        "rows": [{"row": [counts.get((actual, predicted), 0.0) for predicted in labels]} for actual in labels],
    }
