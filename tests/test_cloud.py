"""The Vertex AI / Kubeflow path, offline: compile, compare with the local DAG, configure, submit.

One module-scoped compile of a test cloud config (GPU training, parallel tuning, Dataflow, a
Vertex endpoint) feeds most tests; `tfx pipeline compile` runs in the background meanwhile.
Nothing here reaches Google Cloud: submitting must fail with one line and no traceback.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import CLOUD_BASE
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_v2_runner
from cloud import cloud_config as cloud_lib
from cloud import compiler, submit
from pipeline import config as config_lib

BIN = os.path.dirname(sys.executable)
RUNNER = os.path.join(config_lib.PROJECT_ROOT, "kubeflow_v2_runner.py")
TRAINER = "cloud.executors.VertexTrainer"
CLOUD = {
    **CLOUD_BASE,
    "service_account": "pipelines@test-project.iam.gserviceaccount.com",
    "trainer": {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 2},
    "trainer_replicas": 3,
    "trainer_worker_pool": {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1},
    "tuner": {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1},
    "tuner_parallel_trials": 3,
    "endpoint": "digits-test",
    "kfp_host": "http://127.0.0.1:1",
}


def write_config(folder, **changes) -> str:
    """Writes CLOUD with ``changes`` (None drops a key) as JSON, which the YAML loader reads too."""
    values = {k: v for k, v in {**CLOUD, **changes}.items() if v is not None}
    path = os.path.join(folder, "cloud.json")
    with open(path, "w") as f:
        json.dump(values, f)
    return path


@pytest.fixture(scope="module")
def cloud_config_path(tmp_path_factory) -> str:
    """The test cloud config (CLOUD) as a file."""
    return write_config(tmp_path_factory.mktemp("cloud"))


@pytest.fixture(scope="module")
def cli_run(cloud_config_path, tmp_path_factory):
    """`tfx pipeline compile --engine vertex`, started at once so it overlaps the in-process tests.

    The CLI checks for kfp with the `pip` on PATH, so the venv's bin goes first, as when activated.
    """
    out = tmp_path_factory.mktemp("cli")
    env = dict(
        os.environ,
        PIPELINE_CLOUD_CONFIG=cloud_config_path,
        PIPELINE_OUTPUT_ROOT=str(out),
        PATH=BIN + os.pathsep + os.environ["PATH"],
    )
    env.pop("TF_USE_LEGACY_KERAS", None)  # the project must choose Keras 3 itself
    with open(out / "stdout.txt", "w") as stdout, open(out / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(
            [os.path.join(BIN, "tfx"), "pipeline", "compile", "--engine", "vertex", "--pipeline_path", RUNNER],
            env=env,
            cwd=out,
            stdout=stdout,
            stderr=stderr,
        )
    yield process, out
    if process.poll() is None:
        process.kill()


@pytest.fixture(scope="module")
def compiled(cloud_config_path, cli_run, tmp_path_factory):
    """The compiled job (dict), its strictly parsed PipelineSpec, the cloud config and the local pipeline."""
    from pipeline import dag

    cloud = cloud_lib.load(cloud_config_path)
    output = tmp_path_factory.mktemp("compiled") / "pipeline.json"
    job = compiler.compile_pipeline(cloud, str(output))
    with open(output) as f:
        assert json.load(f) == job
    spec = json_format.Parse(json.dumps(job["pipelineSpec"]), pipeline_spec_pb2.PipelineSpec())
    local_config = config_lib.get_config("digits", quick=True, output_root=str(tmp_path_factory.mktemp("local")))
    local = dag.create_pipeline(local_config)
    return dataclasses.make_dataclass("Compiled", ["job", "spec", "cloud", "local"])(job, spec, cloud, local)


def executor(spec: pipeline_spec_pb2.PipelineSpec, task: str) -> dict:
    """The deployment executor of ``task``, as JSON values."""
    return json_format.MessageToDict(spec.deployment_spec)["executors"][f"{task}_executor"]


def task_config(spec: pipeline_spec_pb2.PipelineSpec, task: str) -> dict:
    """The ``custom_config`` a compiled task passes to its executor."""
    return json.loads(spec.root.dag.tasks[task].inputs.parameters["custom_config"].runtime_value.constant.string_value)


def test_the_compiled_job_parses_strictly_into_kfp_protos(compiled):
    job = json_format.Parse(json.dumps(compiled.job), pipeline_spec_pb2.PipelineJob())
    assert compiled.spec.schema_version == "2.1.0"
    assert compiled.spec.pipeline_info.name == job.display_name == "digits-convnet"
    assert job.runtime_config.gcs_output_directory == CLOUD["pipeline_root"]


def compiled_edges(spec: pipeline_spec_pb2.PipelineSpec) -> dict:
    """Each compiled task's upstream tasks."""
    return {name: set(task.dependent_tasks) for name, task in spec.root.dag.tasks.items()}


def local_edges(pipeline) -> dict:
    """Each node's upstream nodes in a local pipeline."""
    return {c.id: {u.id for u in c.upstream_nodes} for c in pipeline.components}


def test_tasks_and_dependencies_are_the_local_pipelines(compiled):
    assert compiled_edges(compiled.spec) == local_edges(compiled.local)


@pytest.mark.parametrize("tuning_mode", ["reuse", "off"])
def test_other_tuning_modes_compile_to_the_local_dag_too(compiled, tmp_path, tuning_mode):
    from pipeline import dag

    cloud = dataclasses.replace(compiled.cloud, pipeline={"quick": True, "tuning_mode": tuning_mode})
    job = compiler.compile_pipeline(cloud, str(tmp_path / "pipeline.json"))
    spec = json_format.Parse(json.dumps(job["pipelineSpec"]), pipeline_spec_pb2.PipelineSpec())
    local_config = config_lib.get_config("digits", quick=True, output_root=str(tmp_path), tuning_mode=tuning_mode)
    assert compiled_edges(spec) == local_edges(dag.create_pipeline(local_config))


def test_every_executor_runs_the_configured_image(compiled):
    executors = json_format.MessageToDict(compiled.spec.deployment_spec)["executors"]
    containers = {name: e["container"] for name, e in executors.items() if "container" in e}
    assert len(containers) == len(compiled.local.components)  # no resolver: the baseline is a container step
    assert {c["image"] for c in containers.values()} == {CLOUD["image"]}
    schema_file = compiled.spec.root.dag.tasks["ImportSchemaGen"].inputs.parameters["schema_file"]
    # The Dockerfile copies schema/ to IMAGE_PROJECT_ROOT, where the step reads the curated schema.
    assert schema_file.runtime_value.constant.string_value == cloud_lib.IMAGE_PROJECT_ROOT + "/schema/schema.pbtxt"


def test_data_root_is_a_runtime_parameter(compiled):
    root_parameters = compiled.spec.root.input_definitions.parameters
    assert root_parameters["data_root"].parameter_type == pipeline_spec_pb2.ParameterType.STRING
    example_gen = compiled.spec.root.dag.tasks["ImportExampleGen"].inputs.parameters["input_base"]
    assert example_gen.component_input_parameter == "data_root"
    assert compiled.job["runtimeConfig"]["parameterValues"] == {"data_root": CLOUD["data_root"], "data_fingerprint": ""}


def test_dataflow_args_reach_every_beam_powered_component(compiled):
    from tfx.dsl.components.base.base_beam_component import BaseBeamComponent

    beam_components = [c.id for c in compiled.local.components if isinstance(c, BaseBeamComponent)]
    assert {"ImportExampleGen", "StatisticsGen", "Transform", "Evaluator"} <= set(beam_components)
    expected = cloud_lib.dataflow_args(compiled.cloud)
    assert "--runner=DataflowRunner" in expected and f"--sdk_container_image={CLOUD['image']}" in expected
    for component_id in beam_components:
        args = executor(compiled.spec, component_id)["container"]["args"]
        assert set(expected) <= set(args), component_id


def test_gpu_training_and_parallel_tuning_reach_the_vertex_job_specs(compiled):
    from tfx import v1 as tfx
    from tfx.extensions.google_cloud_ai_platform.tuner.executor import TUNING_ARGS_KEY

    from models.settings import TrainingSettings

    cloud_ai = tfx.extensions.google_cloud_ai_platform
    trainer, tuner = task_config(compiled.spec, "Trainer"), task_config(compiled.spec, "Tuner")
    assert trainer[cloud_ai.ENABLE_VERTEX_KEY] and trainer[cloud_ai.VERTEX_REGION_KEY] == CLOUD["region"]
    # Vertex AI takes exactly one replica in pool 0 (the chief); the other replicas go to pool 1.
    chief, workers = trainer[cloud_ai.TRAINING_ARGS_KEY]["job_spec"]["worker_pool_specs"]
    assert (chief["machine_spec"], chief["replica_count"]) == (CLOUD["trainer"], 1)
    assert (workers["machine_spec"], workers["replica_count"]) == (CLOUD["trainer_worker_pool"], 2)
    assert chief["container_spec"]["image_uri"] == workers["container_spec"]["image_uri"] == CLOUD["image"]
    assert trainer[cloud_ai.TRAINING_ARGS_KEY]["project"] == CLOUD["project"]
    primary, workers = tuner[TUNING_ARGS_KEY]["job_spec"]["worker_pool_specs"]
    assert primary["machine_spec"] == workers["machine_spec"] == CLOUD["tuner"]
    assert (primary["replica_count"], workers["replica_count"]) == (1, CLOUD["tuner_parallel_trials"] - 1)
    tune_args = compiled.spec.root.dag.tasks["Tuner"].inputs.parameters["tune_args"].runtime_value.constant
    assert json.loads(tune_args.string_value) == {"num_parallel_trials": CLOUD["tuner_parallel_trials"]}
    # The model code still reads its settings from the merged custom_config.
    assert TrainingSettings.from_custom_config(trainer).image_shape == (8, 8, 1)
    # TFX's Vertex Trainer and Tuner, behind the check that the image runs the compiled code.
    assert executor(compiled.spec, "Trainer")["container"]["args"][:2] == ["--executor_class_path", TRAINER]
    assert executor(compiled.spec, "Tuner")["container"]["args"][1] == "cloud.executors.VertexTuner"


def test_the_pusher_deploys_to_the_configured_vertex_endpoint(compiled):
    from tfx import v1 as tfx

    cloud_ai = tfx.extensions.google_cloud_ai_platform
    pusher = task_config(compiled.spec, "Pusher")
    assert pusher[cloud_ai.SERVING_ARGS_KEY]["endpoint_name"] == CLOUD["endpoint"]
    assert pusher[cloud_ai.VERTEX_REGION_KEY] == CLOUD["region"]
    # TFX's Vertex Pusher, which also keeps a copy where the baseline is found.
    assert "--executor_class_path cloud.executors.VertexPusher" in " ".join(
        executor(compiled.spec, "Pusher")["container"]["args"]
    )
    assert pusher["serving_dir"] == f"{CLOUD['pipeline_root']}/serving/digits-convnet"


def test_without_endpoint_or_vertex_training_the_stock_components_remain(compiled):
    from tfx import v1 as tfx

    from cloud.vertex import CloudComponents

    cloud = dataclasses.replace(compiled.cloud, endpoint="", vertex_training=False)
    factory = CloudComponents(cloud)
    model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    blessing = tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing)
    pusher = factory.pusher(model, blessing, "gs://test-bucket/serving/digits-convnet")
    assert type(pusher) is tfx.components.Pusher
    assert "gs://test-bucket/serving/digits-convnet" in pusher.exec_properties["push_destination"]
    examples = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples)
    trainer = factory.trainer(examples=examples, run_fn="models.training.run_fn", custom_config={})
    assert type(trainer) is tfx.components.Trainer
    assert cloud_lib.pipeline_config(cloud).serving_dir == "gs://test-bucket/pipelines/serving/digits-convnet"


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(project=None), "`project` is required"),
        (dict(image=""), "`image` is required"),
        (dict(pipeline_root="/tmp/pipelines"), "`pipeline_root` must be a gs://BUCKET/PATH path"),
        (dict(data_root="s3://bucket/data"), "`data_root` must be a gs://BUCKET/PATH path"),
        (dict(trainer={"accelerator_type": "NVIDIA_TESLA_T4"}), "trainer: a GPU needs both"),
        (dict(projet="typo"), "unknown key\\(s\\) projet"),
        (dict(tuner_parallel_trials="2"), "`tuner_parallel_trials` must be of type int"),
        (dict(pipeline={"data_root": "gs://elsewhere"}), "pipeline.data_root is set by the cloud config itself"),
        (dict(pipeline={"trainer_workers": 2}), "pipeline.trainer_workers is set by the cloud config itself"),
        (dict(trainer_replicas=0), "`trainer_replicas` must lie in \\[1, 100\\], got 0"),
        (dict(pipeline={"train_epochs": "5"}), "pipeline.train_epochs must be of type int"),
        (dict(pipeline={"pipeline_name": "Digits_CNN"}), "pipeline_name 'Digits_CNN' must match"),
    ],
)
def test_a_wrong_cloud_config_is_one_line_and_exit_2_before_compiling(tmp_path, capsys, changes, message):
    output = tmp_path / "pipeline.json"
    code = kubeflow_v2_runner.main(["--cloud-config", write_config(tmp_path, **changes), "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 2 and not output.exists()
    assert err.count("\n") == 1 and err.startswith("kubeflow_v2_runner.py: error: ")
    assert re.search(message, err), err


def test_the_example_config_is_valid():
    cloud = cloud_lib.load(os.path.join(config_lib.PROJECT_ROOT, "cloud.example.yaml"))
    config = cloud_lib.pipeline_config(cloud)
    assert config.beam_args[0] == "--runner=DataflowRunner" and config.schema_path.startswith("/pipeline/")


def test_the_dockerfile_builds_on_the_compiling_tfx_and_the_expected_folder():
    from tfx import version

    with open(os.path.join(config_lib.PROJECT_ROOT, "Dockerfile")) as f:
        lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
    assert ["FROM", f"gcr.io/tfx-oss-public/tfx:{version.__version__}"] in lines
    assert ["WORKDIR", cloud_lib.IMAGE_PROJECT_ROOT] in lines
    # Every package the project installs is in the image, and in the build context that feeds it.
    from test_layout import LISTS

    copied = {word.rstrip("/") for line in lines if line[0] == "COPY" for word in line[1:-1]}
    with open(os.path.join(config_lib.PROJECT_ROOT, ".dockerignore")) as f:
        admitted = {line.strip()[1:].rstrip("/") for line in f if line.startswith("!")}
    installed = set(LISTS["PACKAGES"]) | {f"{runner}.py" for runner in LISTS["RUNNERS"]}
    assert installed <= copied and installed <= admitted


def test_submit_dry_run_prints_the_request_with_typed_overrides(compiled, tmp_path, capsys, cloud_config_path):
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps(compiled.job))
    args = ["--cloud-config", cloud_config_path, "--spec", str(spec), "--dry-run"]
    assert submit.main([*args, "--param", "data_root=gs://test-bucket/data/mnist"]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["parameter_values"] == {
        "data_root": "gs://test-bucket/data/mnist",
        "data_fingerprint": submit.LISTED_WHEN_SENT,  # listing the bucket takes credentials
    }
    assert (request["project"], request["location"]) == (CLOUD["project"], CLOUD["region"])
    assert request["service_account"] == CLOUD["service_account"]
    assert submit.main([*args, "--target", "kfp"]) == 0
    assert json.loads(capsys.readouterr().out)["host"] == CLOUD["kfp_host"]
    assert submit.main([*args, "--param", "epochs=3"]) == 2
    assert "expected NAME=VALUE with NAME one of ['data_fingerprint', 'data_root']" in capsys.readouterr().err


def test_submit_without_credentials_or_reachable_host_fails_in_one_line(
    compiled, tmp_path, capsys, monkeypatch, cloud_config_path
):
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps(compiled.job))
    # No Application Default Credentials anywhere google.auth looks, and no GCE metadata server probe.
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    args = ["--cloud-config", cloud_config_path, "--spec", str(spec)]
    assert submit.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cloud.submit: error: no Google Cloud credentials"), err
    # A given fingerprint needs no listing of the gs:// data root: the KFP host itself is what fails.
    assert submit.main([*args, "--target", "kfp", "--param", "data_fingerprint=abc"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"cloud.submit: error: cannot reach Kubeflow Pipelines at {CLOUD['kfp_host']}"
    ), err


def test_tfx_cli_compiles_for_vertex(cli_run):
    process, out = cli_run
    assert process.wait(timeout=600) == 0, (out / "stderr.txt").read_text()[-3000:]
    assert "Pipeline digits-convnet compiled successfully." in (out / "stdout.txt").read_text()
    with open(compiler.default_output(str(out))) as f:
        json_format.Parse(json.dumps(json.load(f)["pipelineSpec"]), pipeline_spec_pb2.PipelineSpec())


def test_the_steps_that_run_module_code_refuse_an_image_whose_code_is_not_the_compiled(compiled):
    from tfx.extensions.google_cloud_ai_platform.trainer.executor import GenericExecutor

    from cloud import executors

    assert issubclass(executors.VertexTrainer, GenericExecutor)
    classes = {
        task: executor(compiled.spec, task)["container"]["args"][1] for task in ("Transform", "Tuner", "Trainer")
    }
    assert classes == {
        "Transform": "cloud.executors.Transform",
        "Tuner": "cloud.executors.VertexTuner",
        "Trainer": TRAINER,
    }
    exec_properties = {
        "run_fn": "models.training.run_fn",
        "custom_config": json.dumps(task_config(compiled.spec, "Trainer")),
    }
    executors.check_code(exec_properties, "run_fn")  # this checkout is the code the job was compiled from
    other = {**exec_properties, "custom_config": json.dumps({"code_version": "0123456789abcdef"})}
    # TFX's own executor, with the check in front: it refuses before it reads anything.
    with pytest.raises(executors.CodeVersionError, match="compiled from code with fingerprint 0123456789abcdef"):
        executors.Trainer().Do({}, {}, other)


def test_paths_under_the_pipeline_root_move_with_the_runs_root(compiled):
    moved = compiler.reroot(compiled.job, "gs://other-bucket/runs/7")
    text = json.dumps(moved)
    assert (
        CLOUD["pipeline_root"] not in text
        and moved["runtimeConfig"]["gcsOutputDirectory"] == "gs://other-bucket/runs/7"
    )
    for path in ("Tuner/tensorboard", "Trainer/backup", "tmp"):  # TensorBoard, backups, Dataflow's temp location
        assert f"gs://other-bucket/runs/7/{path}" in compiler.rooted_paths(moved)
    trainer = moved["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]["custom_config"]
    assert (
        json.loads(trainer["runtimeValue"]["constant"])["checkpoint_dir"] == "gs://other-bucket/runs/7/Trainer/backup"
    )
    # The default serving folder (in the Pusher's JSON) moves too; a sibling of the root is not under it.
    spec = {"push": '{"base_directory": "gs://b/p/serving/x"}', "other": ["gs://b/p-old/x", "gs://b/p"]}
    job = {"runtimeConfig": {"gcsOutputDirectory": "gs://b/p"}, "pipelineSpec": spec}
    assert compiler.reroot(job, "/local/root")["pipelineSpec"] == {
        "push": '{"base_directory": "/local/root/serving/x"}',
        "other": ["gs://b/p-old/x", "/local/root"],
    }


def test_submit_moves_the_job_to_its_pipeline_root(compiled, tmp_path, capsys, cloud_config_path):
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps(compiled.job))
    args = ["--cloud-config", cloud_config_path, "--spec", str(spec), "--dry-run", "--pipeline-root", "gs://bucket-2/r"]
    assert submit.main(args) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["pipeline_root"] == "gs://bucket-2/r"
    assert {"gs://bucket-2/r/Tuner/tensorboard", "gs://bucket-2/r/Trainer/backup", "gs://bucket-2/r/tmp"} <= set(
        request["paths_under_root"]
    )
    assert all(path.startswith("gs://bucket-2/r/") for path in request["paths_under_root"])


def test_the_run_metrics_are_published_as_kfp_metrics_artifacts(compiled):
    outputs = compiled.job["pipelineSpec"]["components"]["MetricsPublisher"]["outputDefinitions"]["artifacts"]
    titles = {key: output["artifactType"]["instanceSchema"].splitlines()[0] for key, output in outputs.items()}
    assert titles == {"metrics": "title: system.Metrics", "classification": "title: system.ClassificationMetrics"}
    # The step's entrypoint imports a title that is not tfx.* as a class path: it must be this project's class.
    import system

    assert (
        system.Metrics.TYPE_NAME == "system.Metrics"
        and system.ClassificationMetrics.TYPE_NAME == "system.ClassificationMetrics"
    )
