"""Data sources and the TFRecord format: IDX parsing, digits conversion, bad files."""

import gzip
import os

import numpy as np
import pytest
from conftest import MNIST_IMAGES, MNIST_LABELS

from data import format as record_format
from data import idx, prepare, sources
from models import features

# Per-class label counts of the official MNIST test set.
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_idx_reads_the_shared_mnist_files(mnist_dir):
    images, labels = idx.read_images_and_labels(MNIST_IMAGES, MNIST_LABELS)
    assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_CLASS_COUNTS
    assert images.max() == 255 and images.min() == 0


def test_mnist_source_gives_stable_keys_and_honours_limit(mnist_dir):
    items = list(sources.mnist(mnist_dir, limit=5))
    assert [item.key for item in items] == [f"mnist-t10k-{i:05d}" for i in range(5)]
    assert items[0].label == 7  # the first MNIST test digit is a 7


def test_digits_conversion_scales_all_examples():
    items = list(sources.digits())
    assert len(items) == 1797
    assert len({item.key for item in items}) == 1797
    images = np.stack([item.image for item in items])
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.uint8
    assert images.max() == 255
    assert sorted({item.label for item in items}) == list(range(10))


def test_records_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    items = [record_format.LabeledImage(f"k{i}", rng.integers(0, 256, (5, 4, 3), dtype=np.uint8), i) for i in range(7)]
    paths = record_format.write_records(items, str(tmp_path), "toy", num_shards=3)
    assert len(paths) == 3
    got = {
        ex.features.feature[features.KEY].bytes_list.value[0].decode(): ex
        for ex in record_format.read_records(str(tmp_path / "*.tfrecord"))
    }
    assert sorted(got) == [f"k{i}" for i in range(7)]
    example = got["k3"].features.feature
    assert example[features.LABEL].int64_list.value == [3]
    assert [example[k].int64_list.value[0] for k in features.SHAPE_KEYS] == [5, 4, 3]
    assert example[features.IMAGE].bytes_list.value[0] == items[3].image.tobytes()


def test_to_example_rejects_non_uint8_images():
    with pytest.raises(ValueError, match="'bad'.*uint8"):
        record_format.to_example(record_format.LabeledImage("bad", np.zeros((4, 4, 1), np.float32), 0))


def _copy_pair(tmp_path, images_bytes: bytes) -> str:
    folder = tmp_path / "idx"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(images_bytes)
    with open(MNIST_LABELS, "rb") as f:
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(f.read())
    return str(folder)


def test_truncated_gzip_names_the_file(tmp_path, mnist_dir):
    with open(MNIST_IMAGES, "rb") as f:
        raw = f.read()
    folder = _copy_pair(tmp_path, raw[: len(raw) // 2])
    with pytest.raises(idx.IdxError, match="t10k-images-idx3-ubyte.gz: corrupted or truncated gzip"):
        list(sources.mnist(folder))


def test_truncated_data_names_the_file(tmp_path, mnist_dir):
    with gzip.open(MNIST_IMAGES) as f:
        raw = f.read()
    folder = _copy_pair(tmp_path, gzip.compress(raw[:-100]))
    with pytest.raises(idx.IdxError, match="t10k-images-idx3-ubyte.gz: header promises 7840000 bytes"):
        list(sources.mnist(folder))


def test_bad_magic_and_count_mismatch_are_named(tmp_path, mnist_dir):
    folder = _copy_pair(tmp_path, gzip.compress(b"\x01\x02\x08\x03" + bytes(100)))
    with pytest.raises(idx.IdxError, match="t10k-images-idx3-ubyte.gz: not an IDX file"):
        list(sources.mnist(folder))
    header = b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    (tmp_path / "idx" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(20)))
    with pytest.raises(idx.IdxError, match="holds 5 images but .*labels.* holds 10000 labels"):
        list(sources.mnist(folder))


def test_prepare_cli_reports_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys, mnist_dir):
    with open(MNIST_IMAGES, "rb") as f:
        folder = _copy_pair(tmp_path, f.read()[:1000])
    out_dir = tmp_path / "out"
    assert prepare.main(["mnist", str(out_dir), "--source", folder]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "t10k-images-idx3-ubyte.gz" in err[0]
    assert not out_dir.exists() and not os.path.exists(str(out_dir) + ".partial")


def test_prepare_cli_writes_a_dataset(tmp_path, capsys, mnist_dir):
    out_dir = tmp_path / "mnist"
    assert prepare.main(["mnist", str(out_dir), "--source", mnist_dir, "--limit", "50", "--shards", "2"]) == 0
    assert "wrote 50 examples to 2 file(s)" in capsys.readouterr().out
    assert len(list(record_format.read_records(str(out_dir / "*.tfrecord")))) == 50
