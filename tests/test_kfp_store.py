"""Runs recorded the way a Kubeflow Pipelines 2 backend records them, and what reads and answers from them.

``kfp_store`` is an ML Metadata SQLite file filled through MLMD's own API with the contexts,
executions, artifacts and events KFP's driver and launcher write (``backend/src/v2/metadata``):
``inspect`` must read it as it reads a TFX store. The preflight's own store (cloud/preflight/kfp_store.py)
and its resolver and importer answers (cloud/preflight/queries.py) are checked against the same layout.
"""

import json

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from cloud.preflight import queries
from cloud.preflight.kfp_store import KfpStore
from inspection import command_line, history, results, store_layout
from inspection import lineage as lineage_lib
from inspection.store import open_store

PIPELINE = "digits-convnet"
BLESSING_FILTER = 'schema_title="tfx.ModelBlessing" AND state=LIVE AND metadata.blessed.number_value=1'
# What TFX compiles (tfx/orchestration/kubeflow/v2/step_builder.py); the name comes from the blessing query's result.
MODEL_FILTER = (
    'schema_title="tfx.Model" AND state=LIVE AND '
    "name=\"{{$.inputs.artifacts['input'].metadata['current_model_id']}}\""
)


class KfpWriter:
    """Writes steps into an MLMD store as KFP 2's Go client does (contexts, typed executions, custom properties)."""

    def __init__(self, path: str):
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = mlmd.MetadataStore(config)
        self.pipeline = self.context("system.Pipeline", PIPELINE)
        self.artifacts = {}

    def context(self, type_name: str, name: str, **custom) -> pb.Context:
        context = pb.Context(type_id=self.store.put_context_type(pb.ContextType(name=type_name)), name=name)
        for key, value in custom.items():
            context.custom_properties[key].string_value = value
        [context.id] = self.store.put_contexts([context])
        return context

    def run(self, run_id: str) -> tuple:
        """The run's context (a child of the pipeline's) and its root DAG execution."""
        run = self.context(
            "system.PipelineRun",
            run_id,
            namespace="kubeflow",
            resource_name=f"run-{run_id}",
            pipeline_root=f"minio://mlpipeline/v2/artifacts/{PIPELINE}/{run_id}",
        )
        self.store.put_parent_contexts([pb.ParentContext(child_id=run.id, parent_id=self.pipeline.id)])
        dag = pb.Execution(type_id=self.store.put_execution_type(pb.ExecutionType(name="system.DAGExecution")))
        dag.last_known_state = pb.Execution.COMPLETE
        dag.custom_properties["display_name"].string_value = ""
        dag.custom_properties["inputs"].struct_value.update({"data_root": "gs://bucket/data"})
        dag_id, _, _ = self.store.put_execution(dag, [], [self.pipeline, run])
        return run, dag_id

    def step(self, run, dag_id: int, task: str, state, inputs: dict, outputs: dict, parameters=None) -> int:
        """A ``system.ContainerExecution`` for ``task``; artifacts are ``"tfx.Model#1"`` labels, new on first use."""
        execution_type = self.store.put_execution_type(pb.ExecutionType(name="system.ContainerExecution"))
        execution = pb.Execution(type_id=execution_type, last_known_state=state)
        for key, value in {
            "display_name": task,
            "task_name": task,
            "pod_name": f"{task.lower()}-pod",
            "cache_fingerprint": f"fp-{task}",
        }.items():
            execution.custom_properties[key].string_value = value
        execution.custom_properties["parent_dag_id"].int_value = dag_id
        execution.custom_properties["inputs"].struct_value.SetInParent()  # an empty struct is still a value
        execution.custom_properties["inputs"].struct_value.update(parameters or {})
        pairs = []
        for kind, artifacts in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
            for key, (label, metadata) in artifacts.items():
                pairs.append((self.artifact(label, key, metadata), self.event(kind, key)))
        execution_id, ids, _ = self.store.put_execution(execution, pairs, [self.pipeline, run])
        for (label, _), artifact_id in zip([*inputs.values(), *outputs.values()], ids, strict=True):
            self.artifacts[label] = artifact_id
        return execution_id

    def artifact(self, label: str, key: str, metadata: dict) -> pb.Artifact:
        title = label.split("#")[0]
        artifact = pb.Artifact(
            type_id=self.store.put_artifact_type(pb.ArtifactType(name=title)),
            uri=f"minio://mlpipeline/{label}",
            state=pb.Artifact.LIVE,
        )
        if label in self.artifacts:
            artifact.id = self.artifacts[label]
        artifact.custom_properties["display_name"].string_value = key
        for name, value in metadata.items():  # KFP stores every number as a double
            field = "string_value" if isinstance(value, str) else "double_value"
            setattr(artifact.custom_properties[name], field, value)
        return artifact

    @staticmethod
    def event(kind, key: str) -> pb.Event:
        return pb.Event(type=kind, path=pb.Event.Path(steps=[pb.Event.Path.Step(key=key), pb.Event.Path.Step(index=0)]))


@pytest.fixture(scope="module")
def kfp_store(tmp_path_factory):
    """Two runs of the pipeline in KFP's layout: run-a trains, evaluates, publishes and pushes; run-b is cached."""
    path = str(tmp_path_factory.mktemp("kfp") / "metadata.db")
    writer, done, cached = KfpWriter(path), pb.Execution.COMPLETE, pb.Execution.CACHED
    run, dag = writer.run("run-a")
    examples, model = ("tfx.Examples#1", {"split_names": '["train", "eval", "test"]'}), ("tfx.Model#1", {})
    blessing = ("tfx.ModelBlessing#1", {"blessed": 1.0, "current_model_id": "2", "tfx_version": "1.16.0"})
    published = (
        "system.Metrics#1",
        {"accuracy": 0.97, "example_count": 170.0, "blessed": 1.0, "tfx_version": "1.16.0"},
    )
    pushed = ("tfx.PushedModel#1", {"pushed": 1.0, "pushed_version": "17"})
    writer.step(run, dag, "ImportExampleGen", done, {}, {"examples": examples})
    writer.step(run, dag, "Trainer", done, {"examples": examples}, {"model": model})
    writer.step(
        run,
        dag,
        "Evaluator",
        done,
        {"examples": examples, "model": model},
        {"evaluation": ("tfx.ModelEvaluation#1", {}), "blessing": blessing},
        parameters={"example_splits": '["test"]'},
    )
    writer.step(run, dag, "MetricsPublisher", done, {"blessing": blessing}, {"metrics": published})
    writer.step(run, dag, "Pusher", done, {"model": model, "model_blessing": blessing}, {"pushed_model": pushed})
    run, dag = writer.run("run-b")
    writer.step(run, dag, "ImportExampleGen", cached, {}, {"examples": examples})
    writer.step(run, dag, "Trainer", cached, {"examples": examples}, {"model": model})
    writer.step(run, dag, "Pusher", cached, {"model": model, "model_blessing": blessing}, {"pushed_model": pushed})
    return path, writer.artifacts


def inspect_json(capsys, path: str, *argv):
    assert command_line.main([*argv, "--json", "--metadata-path", path, "--pipeline-name", PIPELINE]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_store_is_read_in_kfps_layout(kfp_store):
    store = open_store(kfp_store[0])
    assert store_layout.of(store) is store_layout.KFP
    assert history.pipelines(store) == [PIPELINE]


def test_runs_and_their_steps_come_from_pipeline_run_contexts_and_container_executions(kfp_store, capsys):
    runs = {r["run_id"]: r for r in inspect_json(capsys, kfp_store[0], "runs")}
    assert set(runs) == {"run-a", "run-b"}
    assert runs["run-a"]["state"] == "COMPLETE" and runs["run-a"]["executions"] == 5  # the root DAG is no step
    assert runs["run-b"]["cached"] == ["ImportExampleGen", "Trainer", "Pusher"]
    steps = inspect_json(capsys, kfp_store[0], "executions", "--run", "run-a")["executions"]
    assert [e["node"] for e in steps] == ["ImportExampleGen", "Trainer", "Evaluator", "MetricsPublisher", "Pusher"]
    assert {e["type_name"] for e in steps} == {"system.ContainerExecution"}


def test_artifacts_are_named_as_tfx_names_them_whatever_the_schema_title(kfp_store, capsys):
    path, ids = kfp_store
    (model,) = inspect_json(capsys, path, "artifacts", "--run", "run-a", "--type", "Model")["artifacts"]
    assert (model["id"], model["node"], model["key"], model["type_name"]) == (
        ids["tfx.Model#1"],
        "Trainer",
        "model",
        "Model",
    )
    assert model["uri"] == "minio://mlpipeline/tfx.Model#1"
    (blessing,) = history.output_artifacts(open_store(path), "run-a", "ModelBlessing")
    assert blessing.id == ids["tfx.ModelBlessing#1"]


def test_lineage_of_a_cached_push_reaches_the_run_that_made_it(kfp_store):
    path, ids = kfp_store
    lineage = lineage_lib.pushed_model_lineage(open_store(path), PIPELINE, "run-b")
    assert lineage.target.id == ids["tfx.PushedModel#1"]
    assert {e.run_id for e in lineage.executions.values()} == {"run-a"}
    assert {e.node for e in lineage.executions.values()} == {"ImportExampleGen", "Trainer", "Evaluator", "Pusher"}


def test_published_metrics_and_the_evaluated_split_read_kfps_properties(kfp_store):
    store = open_store(kfp_store[0])
    assert results.published_metrics(store, "run-a") == {"accuracy": 0.97, "blessed": 1.0, "example_count": 170.0}
    assert results.published_metrics(store, "run-b") == {}
    assert results.evaluated_split(store, "run-a") == "test"


@pytest.fixture
def preflight_store(tmp_path) -> KfpStore:
    store = KfpStore(str(tmp_path / "metadata.db"), PIPELINE)
    store.start_run("run-1", str(tmp_path / "root"), {"data_root": "/data"})
    return store


def record(store: KfpStore, task: str, outputs: dict, fingerprint: str = "", state: str = "COMPLETE") -> dict:
    """A step of ``task`` with ``{key: (title, metadata)}`` outputs, as the preflight records one."""
    execution = store.start_step(task, store_layout.KFP.container_execution, {}, {}, {"cache_fingerprint": fingerprint})
    artifacts = {key: [{"uri": f"/root/{task}/{key}", "metadata": metadata}] for key, (_, metadata) in outputs.items()}
    types = {key: title for key, (title, _) in outputs.items()}
    return store.end_step(execution, state, artifacts, types)


def resolve_baseline(store: KfpStore) -> tuple:
    """The two queries TFX compiles the latest-blessed-model resolver into, answered in turn."""
    blessing = queries.resolve(store, {"outputArtifactQueries": {"model_blessing": {"filter": BLESSING_FILTER}}}, {})
    found = queries.resolve(
        store, {"outputArtifactQueries": {"model": {"filter": MODEL_FILTER}}}, {"input": blessing["model_blessing"]}
    )
    return blessing["model_blessing"], found["model"]


def test_a_first_run_resolves_no_baseline_and_a_later_one_the_newest_blessed_model(preflight_store):
    assert resolve_baseline(preflight_store) == ([], [])
    first = record(preflight_store, "Trainer", {"model": ("tfx.Model", {})})["model"][0]
    record(
        preflight_store,
        "Evaluator",
        {"blessing": ("tfx.ModelBlessing", {"blessed": 1.0, "current_model_id": first["name"]})},
    )
    second = record(preflight_store, "Trainer", {"model": ("tfx.Model", {})})["model"][0]
    record(
        preflight_store,
        "Evaluator",
        {"blessing": ("tfx.ModelBlessing", {"blessed": 0.0, "current_model_id": second["name"]})},
    )
    blessing, model = resolve_baseline(preflight_store)
    assert [m["name"] for m in model] == [first["name"]]  # the not-blessed second model is no baseline
    assert blessing[0]["metadata"]["current_model_id"] == first["name"]


def test_a_cache_hit_needs_a_complete_step_with_the_same_fingerprint(preflight_store):
    assert preflight_store.cached_outputs("fp") is None
    record(preflight_store, "Transform", {"graph": ("tfx.TransformGraph", {})}, "fp", state="FAILED")
    assert preflight_store.cached_outputs("fp") is None
    made = record(preflight_store, "Transform", {"graph": ("tfx.TransformGraph", {"n": 1.0})}, "fp")
    outputs, _ = preflight_store.cached_outputs("fp")
    assert outputs == {
        "graph": [{"name": made["graph"][0]["name"], "uri": "/root/Transform/graph", "metadata": {"n": 1.0}}]
    }


def test_an_importer_reuses_the_artifact_of_its_uri_unless_told_to_reimport(preflight_store):
    made = record(preflight_store, "Importer", {"result": ("tfx.Schema", {})})["result"][0]
    importer = {"artifactUri": {"constant": "/root/Importer/result"}, "typeSchema": {"schemaTitle": "tfx.Schema"}}
    assert queries.import_artifact(preflight_store, importer, {})["name"] == made["name"]
    fresh = queries.import_artifact(preflight_store, {**importer, "reimport": True}, {})
    assert fresh == {"uri": "/root/Importer/result", "metadata": {}}
    by_parameter = {**importer, "artifactUri": {"runtimeParameter": "schema_uri"}}
    assert queries.import_artifact(preflight_store, by_parameter, {"schema_uri": "/elsewhere"})["uri"] == "/elsewhere"


def test_a_resolver_clause_the_preflight_does_not_know_is_named(preflight_store):
    with pytest.raises(queries.UnsupportedSpec, match="resolver filter clause 'create_time>1'"):
        queries.parse_filter('schema_title="tfx.Model" AND create_time>1')
