"""Whether open-source Kubeflow Pipelines 2 can run a compiled job: checked before anything is written or uploaded.

Written from KFP's backend source, kubeflow/pipelines at 2.17.0 (commit 7b70c7b of 2026-08-21;
each rule below holds from 2.0.0 on):

* ``backend/src/apiserver/template/v2_template.go`` (``NewV2SpecTemplate``): the spec's
  ``schemaVersion`` must be 2.1.0, with a pipeline name and a root; ``validatePipelineJobInputs``:
  every root parameter has a type, and a value when the run is created.
* ``backend/src/v2/compiler/visitor.go`` (``pipelineDFS.dfs``): an executor is a container or an
  importer; anything else ("non-container and non-importer executor not implemented"), a resolver
  included, fails the run (``argocompiler/dag.go`` and ``argo.go`` refuse resolvers too).
* ``backend/src/v2/driver/resolve.go`` (``resolveInputParameter``, ``resolveInputArtifact``): the
  input kinds below; ``runtimeValue.constantValue`` and ``runtimeParameter`` are not implemented.
* ``backend/src/v2/compiler/argocompiler/dag.go``: no artifact iterators, no condition on an importer.
* ``backend/src/v2/component/launcher_v2.go`` (``getArtifactSchema``) and ``metadata/client.go``
  (``SchemaToArtifactType``): an artifact type is a ``schemaTitle`` or an ``instanceSchema`` with a
  ``title`` (the MLMD type's name); a ``schemaUri`` is unsupported.
* Argo's workflow validation, which the API server runs on the compiled workflow: task and DAG
  template names match ``[a-zA-Z0-9][-a-zA-Z0-9]*`` (read in Argo's ``validate.go``, not tried live).
"""

import re

from pipeline.config import ConfigError

SCHEMA_VERSION = "2.1.0"
EXECUTORS = ("container", "importer")
PARAMETER_KINDS = ("componentInputParameter", "taskOutputParameter", "runtimeValue", "taskFinalStatus")
ARTIFACT_KINDS = ("componentInputArtifact", "taskOutputArtifact")
ARGO_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
PIPELINE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
TITLE = re.compile(r"^title:\s*(\S+)", re.M)


class KfpIncompatible(ConfigError):
    """Kubeflow Pipelines 2 would refuse the job; the message names the task and the reason."""


def check(job: dict) -> None:
    """Raises ``KfpIncompatible`` with the first of ``problems(job)``, if any."""
    found = problems(job)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise KfpIncompatible(f"Kubeflow Pipelines 2 would refuse this job: {found[0]}{more}")


def problems(job: dict) -> list:
    """Every reason Kubeflow Pipelines 2 would refuse ``job`` (a compiled PipelineJob), one line each."""
    spec = job["pipelineSpec"]
    found = []
    if spec.get("schemaVersion") != SCHEMA_VERSION:
        found.append(f"schemaVersion is {spec.get('schemaVersion')!r}, KFP takes only {SCHEMA_VERSION}")
    name = spec.get("pipelineInfo", {}).get("name", "")
    if not PIPELINE_NAME.fullmatch(name):
        found.append(f"pipeline name {name!r} is not a lowercase DNS label")
    for key, parameter in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items():
        if parameter.get("parameterType", "PARAMETER_TYPE_ENUM_UNSPECIFIED").endswith("UNSPECIFIED"):
            found.append(f"runtime parameter {key} has no parameterType")
    for name, task, component in _tasks(spec):
        found += [f"task {name}: {problem}" for problem in _task_problems(spec, name, task, component)]
    for label, component in spec.get("components", {}).items():
        found += [f"component {label}: {problem}" for problem in _type_problems(component)]
    return found


def _tasks(spec: dict):
    """(name, task, its component) for every task of the root DAG and of the DAG components it holds."""
    pending = [spec["root"]]
    while pending:
        for name, task in pending.pop().get("dag", {}).get("tasks", {}).items():
            component = spec["components"].get(task.get("componentRef", {}).get("name", ""), {})
            if "dag" in component:
                pending.append(component)
            yield name, task, component


def _task_problems(spec: dict, name: str, task: dict, component: dict) -> list:
    found = []
    kind = "dag" if "dag" in component else _executor_kind(spec, component)
    if kind not in (*EXECUTORS, "dag"):
        found.append(f"a {kind} executor: KFP 2 runs only container and importer executors")
    if not ARGO_NAME.fullmatch(name):
        found.append("its name is not an Argo template name ([a-zA-Z0-9][-a-zA-Z0-9]*)")
    for key, parameter in task.get("inputs", {}).get("parameters", {}).items():
        given = [k for k in PARAMETER_KINDS if k in parameter]
        if not given:
            found.append(f"input parameter {key} comes from {sorted(parameter)}, which KFP does not resolve")
        elif given == ["runtimeValue"] and "constant" not in parameter["runtimeValue"]:
            found.append(
                f"input parameter {key} is a {sorted(parameter['runtimeValue'])} runtime value, not a constant"
            )
    for key, artifact in task.get("inputs", {}).get("artifacts", {}).items():
        if not any(k in artifact for k in ARTIFACT_KINDS):
            found.append(f"input artifact {key} comes from {sorted(artifact)}, which KFP does not resolve")
    if "artifactIterator" in task:
        found.append("an artifact iterator, which KFP does not implement")
    if kind == "importer" and task.get("triggerPolicy", {}).get("condition"):
        found.append("a condition on an importer, which KFP does not support")
    return found


def _executor_kind(spec: dict, component: dict) -> str:
    """``container``, ``importer``, ``resolver``... : the kind of the executor a component runs."""
    executor = spec.get("deploymentSpec", {}).get("executors", {}).get(component.get("executorLabel", ""))
    if executor is None:
        return "missing"
    return next(iter(sorted(executor)), "empty")


def _type_problems(component: dict) -> list:
    """The artifact types of a component's inputs and outputs that KFP's launcher cannot name in ML Metadata."""
    found = []
    for direction in ("inputDefinitions", "outputDefinitions"):
        for key, definition in component.get(direction, {}).get("artifacts", {}).items():
            kind = definition.get("artifactType", {})
            if "schemaUri" in kind:
                found.append(f"artifact {key}: a schemaUri type, which KFP's launcher does not support")
            elif not kind.get("schemaTitle") and not TITLE.search(kind.get("instanceSchema", "")):
                found.append(f"artifact {key}: a type with no title, which KFP's launcher cannot record")
    return found
