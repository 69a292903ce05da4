"""The entrypoint of every step on Kubeflow Pipelines 2: TFX's own, after three repairs KFP's launcher needs.

    python -m cloud.kfp_entrypoint --executor_class_path ... --json_serialized_invocation_args {{$}} ...

``cloud/compiler.py`` puts it in place of ``tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor``
for the KFP target; it takes the same arguments and runs that module unchanged, after:

1. **Untyped inputs.** KFP's driver hands a step its upstream artifacts with an empty
   ``instanceSchema`` (``backend/src/v2/metadata/client.go``, ``GetOutputArtifactsByExecutionId``:
   "TODO: figure out how to get schema") and DAG inputs with no type at all; TFX's entrypoint reads
   each artifact's class from that title and fails. Each input gets the type its component declares,
   which TFX passes in ``--json_serialized_inputs_spec_args``.
2. **The logs output.** KFP 2.5 and later add an ``executor-logs`` output of type ``system.Artifact``
   (``component/launcher_v2.go``) that no TFX component declares and TFX cannot import; it is left
   out of what TFX sees (KFP's launcher writes and records it itself).
3. **Directory markers.** TensorFlow 2.16's GCS filesystem, which TFX 1.16 writes through, leaves
   zero-byte ``.../`` objects for folders; KFP's launcher downloads an input's prefix and turns such
   an object into a file where the next step needs a folder (kubeflow/pipelines#13476). After the
   executor, the markers under its ``gs://`` outputs are deleted.

sky-uk/kfp-operator's ``provider-service/kfp/tfx-patch`` found the same problems and patches TFX's
modules at import; here the ExecutorInput is repaired as JSON and TFX runs unpatched
(BUILD_NOTES.md, "Kubeflow Pipelines 2").
"""

import argparse
import json
import sys
from typing import List, Tuple

from models import keras_env  # noqa: F401  (Keras 3 before TFX's executors import TensorFlow)

INVOCATION = "--json_serialized_invocation_args"
INPUTS_SPEC = "--json_serialized_inputs_spec_args"
EXECUTOR_LOGS = "executor-logs"
GS = "gs://"


def repair(invocation: dict, inputs_spec: dict) -> dict:
    """The ExecutorInput with declared types on untyped inputs and without KFP's own logs output."""
    declared = inputs_spec.get("artifacts", {})
    for key, holder in invocation.get("inputs", {}).get("artifacts", {}).items():
        kind = declared.get(key, {}).get("artifactType")
        for artifact in holder.get("artifacts", []):
            current = artifact.get("type") or {}
            if kind and not current.get("schemaTitle") and not current.get("instanceSchema"):
                artifact["type"] = kind
    invocation.get("outputs", {}).get("artifacts", {}).pop(EXECUTOR_LOGS, None)
    return invocation


def output_uris(invocation: dict) -> List[str]:
    """The URIs of a step's output artifacts."""
    holders = invocation.get("outputs", {}).get("artifacts", {}).values()
    return [artifact["uri"] for holder in holders for artifact in holder.get("artifacts", []) if artifact.get("uri")]


def remove_directory_markers(uris: List[str], client=None) -> List[str]:
    """Deletes the zero-byte ``name/`` objects under each ``gs://`` URI; returns the names it deleted."""
    buckets = {}
    for uri in uris:
        if uri.startswith(GS):
            bucket, _, prefix = uri[len(GS) :].partition("/")
            buckets.setdefault(bucket, []).append(prefix.rstrip("/") + "/")
    if not buckets:
        return []
    if client is None:
        from google.cloud import storage

        client = storage.Client()
    deleted = []
    for bucket_name, prefixes in buckets.items():
        bucket = client.bucket(bucket_name)
        for prefix in prefixes:
            markers = [b for b in client.list_blobs(bucket, prefix=prefix) if b.name.endswith("/") and b.size == 0]
            for blob in markers:
                blob.delete()
                deleted.append(f"{GS}{bucket_name}/{blob.name}")
    return deleted


def parse(argv: List[str]) -> Tuple[argparse.Namespace, List[str]]:
    """TFX's entrypoint arguments (``kubeflow_v2_run_executor._parse_flags``), and the Beam args after them."""
    parser = argparse.ArgumentParser(prog="cloud.kfp_entrypoint")
    parser.add_argument("--executor_class_path", required=True, help="the TFX executor's class")
    parser.add_argument(INVOCATION, required=True, help="the ExecutorInput JSON ({{$}})")
    parser.add_argument(INPUTS_SPEC, default="", help="the component's inputDefinitions JSON")
    return parser.parse_known_args(argv)


def main(argv=None) -> int:
    """Repairs the ExecutorInput, runs TFX's entrypoint, then removes directory markers from the outputs."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    args, beam_args = parse(sys.argv[1:] if argv is None else argv)
    inputs_spec = json.loads(args.json_serialized_inputs_spec_args or "{}")
    invocation = repair(json.loads(args.json_serialized_invocation_args), inputs_spec)
    args.json_serialized_invocation_args = json.dumps(invocation)
    kubeflow_v2_run_executor.main((args, beam_args))
    for name in remove_directory_markers(output_uris(invocation)):
        print(f"cloud.kfp_entrypoint: removed the directory marker {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
