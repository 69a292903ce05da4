"""Data sources, the TFRecord format and data.prepare: IDX parsing, digits, bad files, never losing a folder."""

import functools
import gzip
import http.server
import json
import os
import shutil
import tempfile
import threading

import numpy as np
import pytest
from conftest import MNIST_COUNT, MNIST_IMAGES, MNIST_LABELS, tree_digest

from data import format as record_format
from data import idx, prepare, sources
from data.layout import MARKER
from models import features

# Per-class label counts of the first 1,000 images of the official MNIST test set (the fixture).
MNIST_FIXTURE_CLASS_COUNTS = [85, 126, 116, 107, 110, 87, 87, 99, 89, 94]


def test_idx_reads_the_mnist_files(mnist_dir):
    images, labels = idx.read_images_and_labels(MNIST_IMAGES, MNIST_LABELS)
    assert images.shape == (MNIST_COUNT, 28, 28, 1) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_FIXTURE_CLASS_COUNTS
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
    with pytest.raises(idx.IdxError, match="t10k-images-idx3-ubyte.gz: header promises 784000 bytes"):
        list(sources.mnist(folder))


def test_bad_magic_and_count_mismatch_are_named(tmp_path, mnist_dir):
    folder = _copy_pair(tmp_path, gzip.compress(b"\x01\x02\x08\x03" + bytes(100)))
    with pytest.raises(idx.IdxError, match="t10k-images-idx3-ubyte.gz: not an IDX file"):
        list(sources.mnist(folder))
    header = b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    (tmp_path / "idx" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(20)))
    with pytest.raises(idx.IdxError, match="holds 5 images but .*labels.* holds 1000 labels"):
        list(sources.mnist(folder))


def test_prepare_cli_reports_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys, mnist_dir):
    with open(MNIST_IMAGES, "rb") as f:
        folder = _copy_pair(tmp_path, f.read()[:1000])
    out_dir = tmp_path / "out"
    assert prepare.main(["mnist", str(out_dir), "--source", folder]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "t10k-images-idx3-ubyte.gz" in err[0]
    assert not out_dir.exists() and os.listdir(tmp_path) == ["idx"]  # no staging folder left behind


def test_prepare_cli_writes_a_dataset_and_counts_it_without_reading_it_back(tmp_path, capsys, mnist_dir, monkeypatch):
    def no_reading(pattern):
        raise AssertionError(f"data.prepare read {pattern} back to count it")

    out_dir = tmp_path / "mnist"
    with monkeypatch.context() as patch:
        patch.setattr(record_format, "read_records", no_reading)
        assert prepare.main(["mnist", str(out_dir), "--source", mnist_dir, "--limit", "50", "--shards", "2"]) == 0
    assert "wrote 50 examples to 2 file(s)" in capsys.readouterr().out
    assert len(list(record_format.read_records(str(out_dir / "*.tfrecord")))) == 50
    with open(out_dir / MARKER) as f:
        assert json.load(f)["examples"] == 50


def test_prepare_refuses_a_folder_it_did_not_write_and_leaves_it_untouched(tmp_path, capsys, mnist_dir):
    users = tmp_path / "photos"
    users.mkdir()
    (users / "holiday.jpg").write_bytes(b"not ours")
    (tmp_path / "photos.partial").mkdir()  # a user's folder where an older version staged its output
    before = tree_digest(str(tmp_path))
    for extra in ([], ["--overwrite"]):
        assert prepare.main(["digits", str(users), *extra]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"data.prepare: error: {users} is not empty and was not written by data.prepare")
    assert tree_digest(str(tmp_path)) == before


def test_prepare_replaces_its_own_output_only_when_told(tmp_path, capsys, mnist_dir):
    out_dir = tmp_path / "data"
    assert prepare.main(["mnist", str(out_dir), "--source", mnist_dir, "--limit", "20"]) == 0
    first = tree_digest(str(out_dir))
    assert prepare.main(["mnist", str(out_dir), "--source", mnist_dir, "--limit", "30"]) == 2
    assert "pass --overwrite to replace it" in capsys.readouterr().err
    assert tree_digest(str(out_dir)) == first
    assert prepare.main(["mnist", str(out_dir), "--source", mnist_dir, "--limit", "30", "--overwrite"]) == 0
    assert len(list(record_format.read_records(str(out_dir / "*.tfrecord")))) == 30
    assert sorted(os.listdir(tmp_path)) == ["data"]  # no staging or old folder left


def test_a_downloaded_source_leaves_no_temporary_folder(tmp_path, mnist_dir, monkeypatch):
    served = tmp_path / "mirror"
    served.mkdir()
    for prefix in ("train", "t10k"):  # the four files of an MNIST mirror
        for kind in ("images-idx3", "labels-idx1"):
            shutil.copy(os.path.join(mnist_dir, f"t10k-{kind}-ubyte.gz"), served / f"{prefix}-{kind}-ubyte.gz")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        written = prepare.prepare("mnist", str(tmp_path / "out"), source=url, limit=1500)
    finally:
        server.shutdown()
    assert written.examples == 1500
    assert os.listdir(temp) == []


def test_a_predefined_test_set_becomes_the_test_folder(tmp_path, mnist_dir):
    source = tmp_path / "idx"
    source.mkdir()
    for prefix in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            shutil.copy(os.path.join(mnist_dir, f"t10k-{kind}-ubyte.gz"), source / f"{prefix}-{kind}-ubyte.gz")
    written = prepare.prepare("mnist", str(tmp_path / "out"), source=str(source), test_prefix="t10k")
    assert written.counts["test"] == MNIST_COUNT
    assert written.counts["train"] + written.counts["eval"] == MNIST_COUNT
    assert 0.8 < written.counts["train"] / MNIST_COUNT < 0.98  # 8:1 by a hash of the key
    test_keys = {
        example.features.feature[features.KEY].bytes_list.value[0].decode()
        for example in record_format.read_records(str(tmp_path / "out" / "test" / "*.tfrecord"))
    }
    assert test_keys == {f"mnist-t10k-{i:05d}" for i in range(MNIST_COUNT)}


def test_without_a_shard_count_records_roll_over_to_a_new_file_by_size(tmp_path):
    rng = np.random.default_rng(0)
    items = [record_format.LabeledImage(f"k{i}", rng.integers(0, 256, (8, 8, 1), dtype=np.uint8), 0) for i in range(50)]
    with record_format.ShardWriter(str(tmp_path), "toy", shard_bytes=1000) as writer:
        for item in items:
            writer.write(item)
    names = sorted(os.path.basename(p) for p in writer.paths)
    assert len(names) > 3 and names == sorted(os.listdir(tmp_path))
    assert all(name.endswith(f"-of-{len(names):05d}.tfrecord") for name in names)
    assert all(os.path.getsize(p) < 1000 + 200 for p in writer.paths)  # one record past the limit at most
    assert len(list(record_format.read_records(str(tmp_path / "*.tfrecord")))) == 50


def test_idx_files_are_read_a_chunk_at_a_time(mnist_dir, monkeypatch):
    monkeypatch.setattr(idx, "CHUNK_RECORDS", 7)  # several reads, the last one short
    streamed = [label for _, label in idx.images_and_labels(MNIST_IMAGES, MNIST_LABELS)]
    assert len(streamed) == MNIST_COUNT and np.bincount(streamed).tolist() == MNIST_FIXTURE_CLASS_COUNTS
