"""Kubeflow Pipelines 2: the job compiled for it, the check written from KFP's source, and the image's entrypoint.

The compile runs once per module. The entrypoint tests feed TFX's own entrypoint code what KFP's
launcher hands a step; the directory-marker and data-fingerprint tests run against a Cloud Storage
emulator on loopback (gcp-storage-emulator), through the real ``google-cloud-storage`` client.
"""

import contextlib
import io
import json
import os

import pytest
from conftest import CLOUD_BASE
from kfp_standin import KfpStandIn

import kubeflow_v2_runner
from cloud import cloud_config as cloud_lib
from cloud import compiler, data_version, kfp_check, kfp_entrypoint, submit
from pipeline import dag


def write_config(folder, **changes) -> str:
    path = folder / "cloud.json"
    path.write_text(json.dumps({**CLOUD_BASE, **changes}))
    return str(path)


@pytest.fixture(scope="module")
def kfp_job(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("kfp")
    return compiler.compile_pipeline(cloud_lib.load(write_config(folder)), str(folder / "pipeline.json"), "kfp")


def executors(job: dict) -> dict:
    return job["pipelineSpec"]["deploymentSpec"]["executors"]


def test_the_kfp_job_holds_only_containers_passes_the_check_and_runs_the_wrapper(kfp_job):
    assert kfp_check.problems(kfp_job) == []
    assert all(list(executor) == ["container"] for executor in executors(kfp_job).values())
    commands = {tuple(executor["container"]["command"]) for executor in executors(kfp_job).values()}
    assert commands == {("python", "-m", compiler.KFP_ENTRYPOINT)}
    tasks = kfp_job["pipelineSpec"]["root"]["dag"]["tasks"]
    caching = {name: task.get("cachingOptions", {}).get("enableCache", False) for name, task in tasks.items()}
    assert [name for name, cached in caching.items() if not cached] == list(dag.NEVER_CACHED)
    # The data fingerprint is a runtime parameter of ImportExampleGen: it enters that step's cache key.
    declared = kfp_job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert declared["data_fingerprint"] == {"parameterType": "STRING"}
    fingerprint = tasks["ImportExampleGen"]["inputs"]["parameters"]["data_fingerprint"]
    assert fingerprint == {"componentInputParameter": "data_fingerprint"}


def test_a_job_with_a_resolver_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    output = tmp_path / "pipeline.json"
    config = write_config(tmp_path, pipeline={"quick": True, "tuning_mode": "reuse"})
    code = kubeflow_v2_runner.main(["--cloud-config", config, "--output", str(output), "--target", "kfp"])
    err = capsys.readouterr().err
    assert code == 2 and not output.exists() and err.count("\n") == 1
    assert err.startswith(
        "kubeflow_v2_runner.py: error: Kubeflow Pipelines 2 would refuse this job: task "
        f"{dag.HYPERPARAMETERS_RESOLVER}: "
    ), err
    assert "a resolver executor: KFP 2 runs only container and importer executors" in err


def edited(job: dict, change) -> dict:
    copy = json.loads(json.dumps(job))
    change(copy["pipelineSpec"])
    return copy


def _task(spec, name="Trainer"):
    return spec["root"]["dag"]["tasks"][name]


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda s: s.update(schemaVersion="2.0.0"), "schemaVersion is '2.0.0', KFP takes only 2.1.0"),
        (
            lambda s: _task(s)["inputs"]["parameters"]["run_fn"].update(runtimeValue={"constantValue": {"x": 1}}),
            "task Trainer: input parameter run_fn is a ['constantValue'] runtime value, not a constant",
        ),
        (
            lambda s: s["root"]["dag"]["tasks"].update(my_task=_task(s)),
            "task my_task: its name is not an Argo template name",
        ),
        (
            lambda s: s["components"]["Trainer"]["outputDefinitions"]["artifacts"]["model"].update(
                artifactType={"instanceSchema": "type: object\n"}
            ),
            "component Trainer: artifact model: a type with no title",
        ),
        (
            lambda s: _task(s)["inputs"]["artifacts"].update(examples={"pipelineChannel": "x"}),
            "task Trainer: input artifact examples comes from ['pipelineChannel'], which KFP does not resolve",
        ),
    ],
)
def test_the_check_names_each_kind_of_refusal(kfp_job, change, problem):
    found = kfp_check.problems(edited(kfp_job, change))
    assert problem in "\n".join(found), found


def test_tfx_cannot_parse_what_kfps_launcher_hands_a_step_and_the_wrapper_repairs_it(kfp_job):
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
    from tfx.types import standard_artifacts

    declared = kfp_job["pipelineSpec"]["components"]["Trainer"]["inputDefinitions"]
    invocation = {
        "inputs": {
            "artifacts": {"examples": {"artifacts": [{"name": "7", "uri": "/x", "type": {"instanceSchema": ""}}]}}
        },
        "outputs": {
            "artifacts": {
                "model": {
                    "artifacts": [{"name": "model", "uri": "/m", "type": {"instanceSchema": "title: tfx.Model\n"}}]
                },
                kfp_entrypoint.EXECUTOR_LOGS: {
                    "artifacts": [{"name": "logs", "uri": "/l", "type": {"schemaTitle": "system.Artifact"}}]
                },
            }
        },
    }

    def parse(holders: dict) -> dict:
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2

        message = pipeline_spec_pb2.ExecutorInput()
        json_format.ParseDict({"inputs": {"artifacts": holders}}, message)
        return kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(message.inputs.artifacts, {})

    with pytest.raises(AttributeError, match="NoneType"):  # TFX reads the class from the empty schema's title
        parse(invocation["inputs"]["artifacts"])
    repaired = kfp_entrypoint.repair(json.loads(json.dumps(invocation)), declared)
    [examples] = parse(repaired["inputs"]["artifacts"])["examples"]
    assert isinstance(examples, standard_artifacts.Examples)
    assert list(repaired["outputs"]["artifacts"]) == ["model"]  # KFP's own logs output, left to KFP


@pytest.fixture
def gcs(monkeypatch):
    """A Cloud Storage emulator on loopback with one bucket, and a client of it."""
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from multiworker.launcher import free_ports

    (port,) = free_ports(1)
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="bucket")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        yield storage.Client(project="test", credentials=AnonymousCredentials())
    finally:
        server.stop()


def test_zero_byte_directory_markers_under_a_steps_outputs_are_removed_and_nothing_else(gcs):
    bucket = gcs.bucket("bucket")
    names = {
        "root/Trainer/1/model/": b"",  # a marker: what TF 2.16's GCS filesystem leaves for a folder
        "root/Trainer/1/model/Format-Serving/": b"",
        "root/Trainer/1/model/Format-Serving/saved_model.pb": b"graph",
        "root/Trainer/1/model/empty.txt": b"",  # an empty file, not a folder
        "root/Other/1/out/": b"",  # another step's
    }
    for name, data in names.items():
        bucket.blob(name).upload_from_string(data)
    deleted = kfp_entrypoint.remove_directory_markers(["gs://bucket/root/Trainer/1/model"], client=gcs)
    assert sorted(deleted) == ["gs://bucket/root/Trainer/1/model/", "gs://bucket/root/Trainer/1/model/Format-Serving/"]
    left = sorted(blob.name for blob in gcs.list_blobs("bucket"))
    assert left == [
        "root/Other/1/out/",
        "root/Trainer/1/model/Format-Serving/saved_model.pb",
        "root/Trainer/1/model/empty.txt",
    ]


def test_the_data_fingerprint_changes_when_a_file_is_added_or_changed_on_gcs_and_on_disk(gcs, tmp_path):
    bucket = gcs.bucket("bucket")
    bucket.blob("data/digits/digits-00000-of-00001.tfrecord").upload_from_string(b"records")
    before = data_version.fingerprint("gs://bucket/data/digits", client=gcs)
    assert data_version.fingerprint("gs://bucket/data/digits/", client=gcs) == before
    bucket.blob("data/digits-other/x.tfrecord").upload_from_string(b"a sibling folder, not under the root")
    assert data_version.fingerprint("gs://bucket/data/digits", client=gcs) == before
    bucket.blob("data/digits/more.tfrecord").upload_from_string(b"more")
    added = data_version.fingerprint("gs://bucket/data/digits", client=gcs)
    bucket.blob("data/digits/more.tfrecord").upload_from_string(b"changed")
    assert len({before, added, data_version.fingerprint("gs://bucket/data/digits", client=gcs)}) == 3
    (tmp_path / "a.tfrecord").write_bytes(b"1")
    local = data_version.fingerprint(str(tmp_path))
    (tmp_path / "b.tfrecord").write_bytes(b"2")
    assert data_version.fingerprint(str(tmp_path)) != local
    os.remove(tmp_path / "b.tfrecord")
    assert data_version.fingerprint(str(tmp_path)) == local


def submit_to(standin, kfp_job, folder, *extra) -> tuple:
    """``cloud.submit --target kfp`` of ``kfp_job`` to ``standin``: (exit status, stdout, stderr)."""
    spec = folder / "pipeline.json"
    spec.write_text(json.dumps(kfp_job))
    config = write_config(folder, kfp_host=standin.url)
    argv = ["--cloud-config", config, "--spec", str(spec), "--target", "kfp", *extra]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = submit.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_submit_uploads_a_spec_kfp_accepts_and_runs_it_with_every_parameter_and_the_experiment(kfp_job, gcs, tmp_path):
    gcs.bucket("bucket").blob("data/digits/digits-00000-of-00001.tfrecord").upload_from_string(b"records")
    data = "--param", "data_root=gs://bucket/data/digits"
    with KfpStandIn() as standin:
        code, out, err = submit_to(standin, kfp_job, tmp_path, *data, "--experiment", "nightly")
        assert (code, err) == (0, "") and out == f"submitted: Kubeflow Pipelines run id-4 on {standin.url}\n"
        [version] = standin.versions.values()
        assert (
            version["spec"] == kfp_job["pipelineSpec"] and kfp_check.problems({"pipelineSpec": version["spec"]}) == []
        )
        [run] = standin.runs
        assert standin.experiments[run["experiment_id"]]["display_name"] == "nightly"
        assert run["pipeline_version_reference"]["pipeline_version_id"] == version["pipeline_version_id"]
        fingerprint = data_version.fingerprint("gs://bucket/data/digits", client=gcs)
        parameters = {"data_root": "gs://bucket/data/digits", "data_fingerprint": fingerprint}
        assert run["runtime_config"] == {"parameters": parameters, "pipeline_root": CLOUD_BASE["pipeline_root"]}
        # The same spec again: no second upload; new data: a new fingerprint in the next run.
        gcs.bucket("bucket").blob("data/digits/more.tfrecord").upload_from_string(b"more")
        assert submit_to(standin, kfp_job, tmp_path, *data, "--experiment", "nightly")[0] == 0
        assert len(standin.versions) == 1 and len(standin.experiments) == 1
        assert standin.runs[1]["runtime_config"]["parameters"]["data_fingerprint"] != fingerprint


def test_a_refusal_from_kfp_is_one_line_and_exit_1(kfp_job, tmp_path):
    with KfpStandIn(refuse_runs="the namespace has no quota left") as standin:
        code, out, err = submit_to(standin, kfp_job, tmp_path, "--param", "data_fingerprint=abc")
    assert code == 1 and out == "" and err.count("\n") == 1
    refused = f"cloud.submit: error: Kubeflow Pipelines at {standin.url} refused the run (400): the namespace has"
    assert err == refused + " no quota left\n"


def test_submit_refuses_a_job_kfp_would_refuse_before_anything_is_sent(kfp_job, tmp_path):
    broken = edited(kfp_job, lambda s: s.update(schemaVersion="2.0.0"))
    with KfpStandIn() as standin:
        code, out, err = submit_to(standin, broken, tmp_path)
    assert code == 2 and err.count("\n") == 1 and "schemaVersion is '2.0.0'" in err
    assert standin.requests == []
