"""A component that stops the run on bad data: ExampleValidator's anomalies, and data no model can learn from.

TFX's ExampleValidator records anomalies but never fails; this gate reads its output and the
statistics and raises, so Transform and everything after it never run on bad data and the model
already pushed stays the served one. Besides anomalies (named by feature) it refuses degenerate
data, named by split and count: a split with no examples, labels outside ``[0, num_classes)``
(whether the schema is curated or inferred) and a train split missing classes. StatisticsGen
counts every label value exactly because ``label_stats_options`` marks the label categorical.
"""

import os

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from data.layout import TRAIN
from models import features


class DataAnomaliesError(RuntimeError):
    """The examples do not match the schema."""


class DegenerateDataError(ValueError):
    """The data cannot train a classifier: an empty split, labels out of range, or classes missing from train."""


def label_stats_options() -> tfdv.StatsOptions:
    """StatisticsGen's options: the label counted as a category, so its statistics hold every value's count,
    and the image marked as an image, so it gets byte-length statistics instead of string ones.

    String statistics count every distinct value exactly: for the image that is one entry per
    example, each holding its pixels, and Beam's in-process runner keeps them all in memory
    (4.3 GiB for 800,000 MNIST images, BUILD_NOTES.md "Memory at a million examples"). TFDV skips
    an ``image_domain`` feature there; nothing read the image's top values or distinct count.
    """
    schema = schema_pb2.Schema()
    label = schema.feature.add(name=features.LABEL, type=schema_pb2.INT)
    label.int_domain.is_categorical = True
    schema.feature.add(name=features.IMAGE, type=schema_pb2.BYTES).image_domain.SetInParent()
    return tfdv.StatsOptions(schema=schema)


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


def label_counts(statistics: standard_artifacts.ExampleStatistics, split: str) -> tuple:
    """(examples in ``split``, {label value: examples}) from the statistics StatisticsGen wrote."""
    dataset = stats_artifact_utils.load_statistics(statistics, split).proto().datasets[0]
    for feature in dataset.features:
        if feature.path.step == [features.LABEL] or feature.name == features.LABEL:
            buckets = feature.string_stats.rank_histogram.buckets
            return dataset.num_examples, {int(b.label): int(b.sample_count) for b in buckets}
    return dataset.num_examples, {}


def describe_degenerate(statistics: standard_artifacts.ExampleStatistics, num_classes: int) -> list:
    """One line per reason the data cannot train a ``num_classes``-way classifier, naming the split and the count."""
    lines = []
    for split in artifact_utils.decode_split_names(statistics.split_names):
        examples, counts = label_counts(statistics, split)
        if not examples:
            lines.append(f"split {split} has 0 examples: the data is too small to fill train, eval and test")
            continue
        outside = {label: n for label, n in counts.items() if not 0 <= label < num_classes}
        if outside:
            shown = ", ".join(f"{label} ({n})" for label, n in sorted(outside.items())[:5])
            lines.append(f"split {split} has {sum(outside.values())} label(s) outside [0, {num_classes}): {shown}")
        inside = sorted(label for label in counts if 0 <= label < num_classes)
        if split == TRAIN and len(inside) < num_classes:
            lines.append(f"split {split} has examples of {len(inside)} of {num_classes} classes (labels {inside})")
    return lines


@component
def AnomaliesGate(
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    num_classes: Parameter[int],
) -> None:
    """Fails the run if the data is degenerate or ExampleValidator found any anomaly, naming what.

    Degenerate data first: a label out of range is named by split and count whether or not a
    curated schema also made it an anomaly.
    """
    degenerate = describe_degenerate(statistics, num_classes)
    if degenerate:
        raise DegenerateDataError("; ".join(degenerate))
    lines = describe_anomalies(anomalies.uri, anomalies.split_names)
    if lines:
        raise DataAnomaliesError("data anomalies stopped the run before training: " + "; ".join(lines))
