"""ImportExampleGen and StatisticsGen as the pipeline configures them: the split is reproducible (a key's
split depends on the key alone), a predefined test set is kept as it is, each split is written in
the order read (no shuffle to hold in memory), and the statistics are exact.

Runs the pipeline's own ImportExampleGen executor and TFX's StatisticsGen executor with the exec
properties ``create_pipeline`` builds.
"""

import collections
import glob
import os
import shutil

import apache_beam as beam
import pytest
import tensorflow as tf
from google.protobuf import message
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from data import format as record_format
from data import prepare, sources
from data.layout import SPLITS
from models import features
from pipeline import config as config_lib
from pipeline import dag


def exec_properties(component) -> dict:
    """A component's exec properties as its executor gets them (protos as JSON)."""
    return {
        name: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
        for name, value in component.exec_properties.items()
    }


class RecordedPipeline(beam.Pipeline):
    """The executor's own Beam pipeline, which also keeps the types of the transforms it ran."""

    def run(self, test_runner_api="AUTO"):
        """Notes every applied transform, then runs as usual."""
        outer = self

        class Visitor(beam.pipeline.PipelineVisitor):
            def enter_composite_transform(self, node):
                outer.transforms.append(type(node.transform))

            def visit_transform(self, node):
                outer.transforms.append(type(node.transform))

        self.transforms = []
        self.visit(Visitor())
        return super().run(test_runner_api)


def run_example_gen(data_dir: str, out_dir: str, **overrides):
    """Runs the pipeline's ImportExampleGen executor; returns (its Examples artifact, {split: [keys in file order]},
    the types of the Beam transforms it ran)."""
    config = config_lib.get_config("mnist", output_root=out_dir, data_root=data_dir, **overrides)
    stage = dag.data_stage(config)
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(out_dir, "examples")
    pipeline = RecordedPipeline()  # TFX's executor context takes the Beam pipeline to run in
    context = base_beam_executor.BaseBeamExecutor.Context(make_beam_pipeline_fn=lambda: pipeline)
    executor = stage.example_gen.executor_spec.executor_class(context)
    executor.Do({}, {"examples": [examples]}, exec_properties(stage.example_gen))
    keys = {}
    for split in SPLITS:
        files = sorted(glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*")))
        records = tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator()
        keys[split] = [
            tf.train.Example.FromString(r).features.feature[features.KEY].bytes_list.value[0].decode() for r in records
        ]
    return examples, keys, pipeline.transforms


def split_membership(data_dir: str, out_dir: str, **overrides) -> dict:
    """Runs ImportExampleGen as the pipeline configures it; returns {key: split}."""
    _, keys, _ = run_example_gen(data_dir, out_dir, **overrides)
    return {key: split for split, split_keys in keys.items() for key in split_keys}


@pytest.fixture(scope="module")
def items(mnist_dir):
    return list(sources.mnist(mnist_dir, limit=1000))


def test_same_key_same_split_whatever_order_sharding_or_run(tmp_path, items):
    one_file = str(tmp_path / "one")
    record_format.write_records(items, one_file, "mnist", num_shards=1)
    reversed_sharded = str(tmp_path / "reversed")
    record_format.write_records(reversed(items), reversed_sharded, "mnist", num_shards=3)
    first = split_membership(one_file, str(tmp_path / "run1"))
    second = split_membership(reversed_sharded, str(tmp_path / "run2"))
    assert len(first) == len(items)
    assert first == second


def test_keys_keep_their_split_when_data_is_added(tmp_path, items):
    base = str(tmp_path / "base")
    record_format.write_records(items[:600], base, "mnist")
    grown = str(tmp_path / "grown")
    record_format.write_records(items[600:] + items[:600], grown, "mnist", num_shards=2)
    before = split_membership(base, str(tmp_path / "run1"))
    after = split_membership(grown, str(tmp_path / "run2"))
    assert {k: after[k] for k in before} == before


def test_split_ratio_follows_the_buckets(tmp_path, items):
    data = str(tmp_path / "data")
    record_format.write_records(items, data, "mnist")
    membership = split_membership(data, str(tmp_path / "run"))
    fractions = {split: sum(s == split for s in membership.values()) / len(membership) for split in SPLITS}
    # 8:1:1 buckets; 1,000 keys put eval and test near 0.1 each (binomial sd about 0.01).
    assert 0.75 < fractions["train"] < 0.85 and 0.06 < fractions["eval"] < 0.14 and 0.06 < fractions["test"] < 0.14
    membership = split_membership(data, str(tmp_path / "run2"), split_buckets=(2, 1, 1))
    assert 0.4 < sum(s == "train" for s in membership.values()) / len(membership) < 0.6


def test_predefined_split_folders_are_read_as_they_are(tmp_path, items, mnist_dir):
    data = str(tmp_path / "data")
    source = tmp_path / "idx"
    source.mkdir()
    for prefix in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            shutil.copy(os.path.join(mnist_dir, f"t10k-{kind}-ubyte.gz"), source / f"{prefix}-{kind}-ubyte.gz")
    written = prepare.prepare("mnist", data, source=str(source), test_prefix="t10k")
    membership = split_membership(data, str(tmp_path / "run"), predefined_splits=True)
    assert {key for key, split in membership.items() if split == "test"} == {item.key for item in items}
    assert sum(split == "eval" for split in membership.values()) == written.counts["eval"] > 0


def test_each_split_is_written_in_the_order_read_with_no_shuffle_to_hold_in_memory(tmp_path, items):
    data = str(tmp_path / "data")
    record_format.write_records(items, data, "mnist", num_shards=1)
    _, keys, transforms = run_example_gen(data, str(tmp_path / "run"))
    assert beam.io.WriteToTFRecord in transforms
    assert beam.Reshuffle not in transforms  # TFX's own executor shuffles every split before writing it
    order = {item.key: index for index, item in enumerate(items)}
    for split in SPLITS:
        assert len(keys[split]) > 50 and [order[key] for key in keys[split]] == sorted(order[k] for k in keys[split])


def test_statistics_are_exact_and_the_image_gets_byte_statistics(tmp_path, items):
    data = str(tmp_path / "data")
    record_format.write_records(items, data, "mnist")
    out = str(tmp_path / "run")
    examples, keys, _ = run_example_gen(data, out)
    statistics_gen = dag.data_stage(config_lib.get_config("mnist", output_root=out, data_root=data)).statistics_gen
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = os.path.join(out, "statistics")
    properties = exec_properties(statistics_gen)
    statistics_gen.executor_spec.executor_class().Do({"examples": [examples]}, {"statistics": [statistics]}, properties)
    labels = {item.key: item.label for item in items}
    for split in SPLITS:
        (dataset,) = stats_artifact_utils.load_statistics(statistics, split).proto().datasets
        stats = {feature.path.step[0]: feature for feature in dataset.features}
        assert dataset.num_examples == len(keys[split])
        assert not stats[features.IMAGE].HasField("string_stats")
        assert stats[features.IMAGE].bytes_stats.avg_num_bytes == 28 * 28
        assert stats[features.KEY].string_stats.unique == len(keys[split])  # every key counted, none sampled
        counts = {int(b.label): int(b.sample_count) for b in stats[features.LABEL].string_stats.rank_histogram.buckets}
        assert counts == dict(collections.Counter(labels[key] for key in keys[split]))
