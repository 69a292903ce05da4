"""KFP's own metrics artifact types, as TFX artifact classes: ``system.Metrics`` and ``system.ClassificationMetrics``.

TFX 1.16 compiles a custom artifact class into the KFP spec with its ``TYPE_NAME`` as the type's
schema title, and the step's entrypoint imports a title that is not ``tfx.*`` as a class path.
This package's import path is therefore the title itself: the KFP UI, its run comparison and
Vertex AI Experiments read artifacts titled ``system.Metrics`` as a run's metrics, and the step
finds the class under the same name. No properties: KFP's generic artifact schema has none, and
the values go into custom properties (the artifact's ``metadata`` on KFP and Vertex AI).
"""

from tfx.types import artifact


class Metrics(artifact.Artifact):
    """Scalar metrics of a run (KFP's ``system.Metrics``): each custom property is one number."""

    TYPE_NAME = "system.Metrics"


class ClassificationMetrics(artifact.Artifact):
    """A confusion matrix (KFP's ``system.ClassificationMetrics``): ``confusionMatrix`` as KFP's SDK writes it."""

    TYPE_NAME = "system.ClassificationMetrics"
