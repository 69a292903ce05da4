"""The split is reproducible (a key's split depends on the key alone) and a predefined test set is kept as it is.

Runs the real ImportExampleGen executor with the exec properties ``create_pipeline`` builds.
"""

import glob
import os
import shutil

import pytest
import tensorflow as tf
from google.protobuf import message
from tfx.components.example_gen.import_example_gen import executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from data import format as record_format
from data import prepare, sources
from data.layout import SPLITS
from models import features
from pipeline import config as config_lib
from pipeline import dag


def split_membership(data_dir: str, out_dir: str, **overrides) -> dict:
    """Runs ImportExampleGen as the pipeline configures it; returns {key: split}."""
    config = config_lib.get_config("mnist", output_root=out_dir, data_root=data_dir, **overrides)
    example_gen = dag.data_stage(config).example_gen
    properties = {
        name: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
        for name, value in example_gen.exec_properties.items()
    }
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(out_dir, "examples")
    executor.Executor().Do({}, {"examples": [examples]}, properties)
    membership = {}
    for split in SPLITS:
        files = glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*"))
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
            key = tf.train.Example.FromString(record).features.feature[features.KEY].bytes_list.value[0]
            membership[key.decode()] = split
    return membership


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
