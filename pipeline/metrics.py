"""Publishes the Evaluator's verdict where KFP and Vertex AI users look: ``system.Metrics`` artifacts.

TFX's ModelEvaluation is a folder of TFMA files that neither the KFP UI's run comparison nor
Vertex AI Experiments reads. ``MetricsPublisher`` runs after the Evaluator and writes the test
accuracy, the example count, each class's accuracy and the blessing as custom properties of a
``system.Metrics`` artifact (they become its ``metadata`` on KFP and Vertex AI), and the confusion
matrix as a ``system.ClassificationMetrics`` in the layout KFP's SDK writes. Locally the same
artifacts are in ML Metadata, where ``python -m inspection metrics`` shows them. Floats and JSON
values only: the KFP container entrypoint cannot translate bool or proto custom properties.
"""

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

import system
from pipeline import evaluation as evaluation_lib


@component
def MetricsPublisher(
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: InputArtifact[standard_artifacts.ModelBlessing],
    metrics: OutputArtifact[system.Metrics],
    classification: OutputArtifact[system.ClassificationMetrics],
) -> None:
    """Copies the test accuracy (overall, per class), example count and blessing into ``system.Metrics``."""
    candidate, baseline = evaluation_lib.read_evaluation(evaluation.uri)
    blessed = blessing.get_int_custom_property("blessed") == 1
    for name, value in evaluation_lib.published_values(candidate, blessed, baseline).items():
        metrics.set_float_custom_property(name, value)
    matrix = evaluation_lib.confusion_matrix(evaluation.uri)
    classification.set_json_value_custom_property(evaluation_lib.CONFUSION_MATRIX, matrix)
