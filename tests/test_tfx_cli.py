"""The tfx CLI path from the README, with SchemaGen for a "new" dataset, then ``make schema``.

`tfx pipeline create` + `tfx run create` on the digits data, configured through
PIPELINE_FLAGS exactly as a user would, then the inferred schema is curated into a file that
must match the checked-in digits schema's domains.
"""

import os
import subprocess
import sys

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data import prepare
from inspection import history
from inspection import store as store_lib
from pipeline import config as config_lib
from pipeline import facts
from pipeline.flags import parse_args

TFX = os.path.join(os.path.dirname(sys.executable), "tfx")
RUNNER = os.path.join(config_lib.PROJECT_ROOT, "local_runner.py")


def domains(schema: schema_pb2.Schema) -> dict:
    return {f.name: (f.int_domain.min, f.int_domain.max) for f in schema.feature if f.HasField("int_domain")}


def test_tfx_cli_runs_the_pipeline_with_schema_gen_and_the_schema_refreshes(tmp_path):
    flags = [
        "--quick",
        "--output-root",
        str(tmp_path),
        "--pipeline-name",
        "digits-cli",
        "--use-schema-gen",
        "--image-shape",
        "8,8,1",
        "--num-classes",
        "10",
    ]
    config = parse_args(flags)
    prepare.prepare("digits", config.data_root)
    env = dict(os.environ, PIPELINE_FLAGS=" ".join(flags), LOCAL_HOME=str(tmp_path / "tfx-cli-home"))
    env.pop("TF_USE_LEGACY_KERAS", None)  # the project must choose Keras 3 itself
    create = subprocess.run(
        [TFX, "pipeline", "create", "--engine", "local", "--pipeline_path", RUNNER],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert create.returncode == 0, create.stderr[-3000:]
    assert 'Pipeline "digits-cli" created successfully.' in create.stdout
    run = subprocess.run(
        [TFX, "run", "create", "--engine", "local", "--pipeline_name", "digits-cli"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The CLI passes the runner's console through: component lines and the summary.
    assert "  SchemaGen COMPLETE in" in run.stdout and "Run " in run.stdout and "  pushed         version" in run.stdout

    store = store_lib.open_store(config.metadata_path)
    (only_run,) = history.runs(store, "digits-cli")
    assert only_run.states()["SchemaGen"] == "COMPLETE"
    assert only_run.states()["Pusher"] == "COMPLETE"
    assert len(os.listdir(config.serving_dir)) == 1

    out = tmp_path / "schema" / "schema.pbtxt"
    pipeline_flags = " ".join(flag for flag in flags if flag not in ("--output-root", str(tmp_path)))
    make_schema = ["make", "-s", "-C", config_lib.PROJECT_ROOT, "schema", f"SCHEMA_OUT={out}"]
    make_schema += [f"OUTPUT_ROOT={tmp_path}", f"FLAGS={pipeline_flags}"]
    done = subprocess.run(make_schema, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    refreshed = text_format.Parse(out.read_text(), schema_pb2.Schema())
    with open(config_lib.preset_config("digits").schema_path) as f:
        curated = text_format.Parse(f.read(), schema_pb2.Schema())
    assert domains(refreshed) == domains(curated)
    assert facts.schema_facts(str(out)) == ((8, 8, 1), 10)
