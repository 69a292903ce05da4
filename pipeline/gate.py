"""A component that stops the run when ExampleValidator found anomalies.

TFX's ExampleValidator records anomalies but never fails; this gate reads its output and
raises, naming each anomalous feature, so Transform and everything after it never run on bad
data and the model already pushed stays the served one.
"""

import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts


class DataAnomaliesError(RuntimeError):
    """The examples do not match the schema."""


def describe_anomalies(uri: str, split_names: str) -> list:
    """One readable line per anomalous feature and split of an ExampleAnomalies artifact, e.g. ``train: label: ...``.

    ``uri`` and ``split_names`` are the artifact's; taking them rather than the artifact lets the
    gate (a TFX artifact) and ``inspection.results`` (an MLMD record) share this reading.
    """
    lines = []
    for split in artifact_utils.decode_split_names(split_names):
        split_dir = os.path.join(uri, f"Split-{split}")
        for name in sorted(tf.io.gfile.listdir(split_dir)):
            anomalies = anomalies_pb2.Anomalies.FromString(
                tf.io.gfile.GFile(os.path.join(split_dir, name), "rb").read()
            )
            for feature, info in sorted(anomalies.anomaly_info.items()):
                lines.append(f"{split}: feature {feature!r}: {info.short_description} ({info.description})")
            if anomalies.HasField("dataset_anomaly_info"):
                lines.append(f"{split}: dataset: {anomalies.dataset_anomaly_info.description}")
    return lines


@component
def AnomaliesGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies]) -> None:
    """Fails the run if ExampleValidator found any anomaly, naming the features."""
    lines = describe_anomalies(anomalies.uri, anomalies.split_names)
    if lines:
        raise DataAnomaliesError("data anomalies stopped the run before training:\n  " + "\n  ".join(lines))
