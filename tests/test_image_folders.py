"""Real image folders (PNG and JPEG, one subfolder per class) through data.prepare and the whole pipeline.

The pipeline runs as the README's TFX CLI path runs it (``tfx pipeline create`` and ``tfx run create``,
configured through PIPELINE_FLAGS), with SchemaGen as for any new dataset, then ``make schema``. It runs
on Beam's multi-processing DirectRunner, so every Beam-powered component is also proven to work with
worker processes; the served model names its classes.
"""

import glob
import json
import os
import re
import subprocess
import sys
import types

import httpx
import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image, ImageDraw
from tensorflow_metadata.proto.v0 import schema_pb2

from benchmarks.server_process import ServerProcess
from data import prepare
from data.layout import CLASSES_FILE, MARKER
from inspection import history
from inspection.store import open_store
from pipeline import config as config_lib
from pipeline import facts
from pipeline.flags import parse_args
from serving import predict as predict_cli
from serving import versions

CLASSES = ("circle", "square", "triangle")
PER_CLASS = 40
SHAPE = (16, 16, 3)
MULTI_PROCESSING = "--beam-args=--direct_running_mode=multi_processing,--direct_num_workers=2"
TFX = os.path.join(os.path.dirname(sys.executable), "tfx")
RUNNER = os.path.join(config_lib.PROJECT_ROOT, "local_runner.py")


def draw(kind: str, rng: np.random.Generator) -> Image.Image:
    """A light shape of ``kind`` on a dark background, of a random size (the pipeline resizes)."""
    size = int(rng.integers(18, 30))
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 80, 3)))
    pen, margin = ImageDraw.Draw(image), int(rng.integers(2, 5))
    colour, box = tuple(int(v) for v in rng.integers(150, 256, 3)), [margin, margin, size - margin, size - margin]
    if kind == "circle":
        pen.ellipse(box, fill=colour)
    elif kind == "square":
        pen.rectangle(box, fill=colour)
    else:
        pen.polygon([(size // 2, margin), (margin, size - margin), (size - margin, size - margin)], fill=colour)
    return image


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    """CLASSES subfolders of PNG and JPEG files (some one level deeper), and one corrupt file."""
    root = tmp_path_factory.mktemp("images") / "shapes"
    rng = np.random.default_rng(0)
    for kind in CLASSES:
        for i in range(PER_CLASS):
            path = root / kind / ("nested" if i % 5 == 0 else "") / f"{i:03d}.{'png' if i % 2 else 'jpg'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            draw(kind, rng).save(path)
    (root / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    return str(root)


def test_a_corrupt_image_stops_the_conversion_naming_it_and_skip_bad_counts_and_lists_it(folder, tmp_path, capsys):
    out = tmp_path / "data"
    assert prepare.main(["folder", folder, str(out), "--image-shape", "16,16,3"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"data.prepare: error: {os.path.join(folder, 'square', 'broken.png')}: not a readable image")
    assert not out.exists()
    assert prepare.main(["folder", folder, str(out), "--image-shape", "16,16,3", "--skip-bad"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {3 * PER_CLASS} examples" in printed and "skipped 1 unreadable image(s)" in printed
    assert "square/broken.png" in printed
    with open(out / MARKER) as f:
        assert [path for path, _ in json.load(f)["skipped"]] == ["square/broken.png"]


def test_images_become_examples_keyed_by_relative_path_in_the_requested_shape(folder, tmp_path):
    from data import format as record_format

    written = prepare.prepare("folder", str(tmp_path / "grey"), folder, image_shape=(8, 8, 1), skip_bad=True)
    assert written.examples == 3 * PER_CLASS
    with open(tmp_path / "grey" / CLASSES_FILE) as f:
        assert json.load(f) == list(CLASSES)
    examples = list(record_format.read_records(str(tmp_path / "grey" / "*.tfrecord")))
    keys = {e.features.feature["key"].bytes_list.value[0].decode(): e for e in examples}
    assert "circle/nested/000.jpg" in keys and "triangle/001.png" in keys  # stable: the path below SRC
    example = keys["triangle/001.png"].features.feature
    assert [example[k].int64_list.value[0] for k in ("height", "width", "channels", "label")] == [8, 8, 1, 2]
    assert len(example["image"].bytes_list.value[0]) == 8 * 8 * 1
    # Written with the classes interleaved, as ImportExampleGen keeps the order (pipeline/example_gen.py).
    labels = [e.features.feature["label"].int64_list.value[0] for e in examples]
    assert len(set(labels[:PER_CLASS])) == len(CLASSES)


def tfx_cli(root, flags: list, *words: str) -> subprocess.CompletedProcess:
    """``tfx <words> --engine local`` as the README gives it, the pipeline's flags in PIPELINE_FLAGS."""
    env = dict(os.environ, PIPELINE_FLAGS=" ".join(flags), LOCAL_HOME=str(root / "tfx-cli-home"))
    env.pop("TF_USE_LEGACY_KERAS", None)  # the project must choose Keras 3 itself
    return subprocess.run([TFX, *words, "--engine", "local"], env=env, capture_output=True, text=True, cwd=root)


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    """The whole pipeline on the folder's images through the TFX CLI, with no code change (shape and
    classes come from the data, the schema from SchemaGen)."""
    root = tmp_path_factory.mktemp("folder-run")
    data_root = str(root / "data")
    prepare.prepare("folder", data_root, folder, image_shape=SHAPE, skip_bad=True)
    flags = ["--quick", "--data-root", data_root, "--pipeline-name", "shapes", "--use-schema-gen", MULTI_PROCESSING]
    flags_with_root = [*flags, "--output-root", str(root)]
    create = tfx_cli(root, flags_with_root, "pipeline", "create", "--pipeline_path", RUNNER)
    run = tfx_cli(root, flags_with_root, "run", "create", "--pipeline_name", "shapes")
    config = facts.complete(parse_args(flags_with_root))  # what the run uses: the shape and classes data.prepare wrote
    store = open_store(config.metadata_path)
    return types.SimpleNamespace(root=root, flags=flags, config=config, create=create, cli_run=run, store=store)


def test_the_tfx_cli_runs_the_pipeline_on_the_folder_with_beams_worker_processes_and_pushes(trained):
    assert trained.create.returncode == 0, trained.create.stderr[-3000:]
    assert 'Pipeline "shapes" created successfully.' in trained.create.stdout
    assert trained.cli_run.returncode == 0, trained.cli_run.stderr[-3000:]
    # The CLI passes the runner's console through: component lines and the summary.
    out = trained.cli_run.stdout
    assert "  SchemaGen COMPLETE in" in out and "Run " in out and "  pushed         version" in out
    config = trained.config
    assert (config.image_shape, config.num_classes, config.class_names) == (SHAPE, 3, CLASSES)
    (run,) = history.runs(trained.store, "shapes")
    assert set(run.states().values()) == {"COMPLETE"} and "SchemaGen" in run.states()
    (pushed,) = history.output_artifacts(trained.store, run.run_id, "PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 1
    assert len(os.listdir(config.serving_dir)) == 1
    (log,) = glob.glob(os.path.join(config.log_dir, "*.log"))
    with open(log) as f:
        text = f.read()
    # Beam relays its worker processes' messages through its local job service.
    assert "local_job_service: Worker:" in text
    # SchemaGen infers the schema from every split, test included, as docs/data.md says.
    assert re.findall(r"Processing schema from statistics for split (\w+)\.", text) == ["train", "eval", "test"]


def test_make_schema_writes_the_inferred_schema_with_the_shape_and_classes_pinned(trained, tmp_path):
    out = tmp_path / "schema" / "schema.pbtxt"
    make_schema = ["make", "-s", "-C", config_lib.PROJECT_ROOT, "schema", f"SCHEMA_OUT={out}"]
    make_schema += [f"OUTPUT_ROOT={trained.root}", f"FLAGS={' '.join(trained.flags)}"]
    done = subprocess.run(make_schema, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    schema = text_format.Parse(out.read_text(), schema_pb2.Schema())
    domains = {f.name: (f.int_domain.min, f.int_domain.max) for f in schema.feature if f.HasField("int_domain")}
    assert domains == {"height": (16, 16), "width": (16, 16), "channels": (3, 3), "label": (0, 2)}
    assert "image" in {f.name for f in schema.feature}
    assert facts.schema_facts(str(out)) == (SHAPE, 3)


def test_the_served_model_names_its_classes_in_metadata_and_the_predict_cli(trained, tmp_path, capsys):
    version, path = versions.resolve(trained.config.serving_dir)
    with ServerProcess(trained.config.serving_dir, "shapes", str(tmp_path / "server.log")) as server:
        metadata = httpx.get(f"{server.url}/v1/models/shapes/metadata", timeout=60).json()["metadata"]
    assert metadata["class_names"] == list(CLASSES) and metadata["image_shape"] == list(SHAPE)
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps({"instances": [np.zeros(SHAPE, np.uint8).tolist()]}))
    assert predict_cli.main(["--model-dir", path, "--json-instances", str(instances)]) == 0
    (prediction,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert prediction["class_name"] == CLASSES[prediction["classes"]]
