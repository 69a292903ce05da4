"""A run on a Kubeflow Pipelines 2 endpoint through KFP's own client (``kfp.Client``, the v2beta1 REST API).

``start_run`` uploads the compiled spec as a version of the pipeline (the pipeline itself on the
first upload; a version named by the spec's digest when no version holds that spec yet), files
the run under the experiment (made when missing) and creates the run from that version with every
runtime parameter's value: KFP's spec carries no defaults, and the API server refuses a run that
leaves one out (``backend/src/apiserver/template/v2_template.go``). KFP takes a bare PipelineSpec,
not the PipelineJob JSON TFX writes, so the spec goes up alone as YAML.
"""

import contextlib
import hashlib
import io
import json
import os
import tempfile

import yaml

DEFAULT_EXPERIMENT = "Default"  # what kfp.Client files a run under when none is named


def spec_digest(spec: dict) -> str:
    """A short digest of the spec's JSON: the name of the pipeline version that holds it."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _version_id(client, pipeline_id: str, spec: dict):
    """The id of the pipeline's newest version that holds ``spec``, or None."""
    page = client.list_pipeline_versions(pipeline_id, page_size=100, sort_by="created_at desc")
    for version in page.pipeline_versions or []:
        if version.pipeline_spec and spec_digest(version.pipeline_spec) == spec_digest(spec):
            return version.pipeline_version_id
    return None


def upload(client, package: str, spec: dict) -> tuple:
    """(pipeline id, version id) of ``spec`` on the endpoint, uploading the pipeline or a version when new."""
    name = spec["pipelineInfo"]["name"]
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(package, pipeline_name=name).pipeline_id
    version_id = _version_id(client, pipeline_id, spec)
    if version_id is None:
        version_name = f"{name}-{spec_digest(spec)}"
        version_id = client.upload_pipeline_version(package, version_name, pipeline_id=pipeline_id).pipeline_version_id
    return pipeline_id, version_id


def start_run(request: dict, job: dict) -> str:
    """Starts ``job``'s run as ``request`` describes it (cloud/submit.py) and returns its run id."""
    import kfp

    spec = job["pipelineSpec"]
    name = spec["pipelineInfo"]["name"]
    # The client prints links to the UI as it goes; the command prints its own line.
    with contextlib.redirect_stdout(io.StringIO()), tempfile.TemporaryDirectory() as folder:
        package = os.path.join(folder, f"{name}.yaml")
        with open(package, "w") as f:
            yaml.safe_dump(spec, f, sort_keys=True)
        client = kfp.Client(host=request["host"])
        pipeline_id, version_id = upload(client, package, spec)
        experiment = client.create_experiment(request["experiment"] or DEFAULT_EXPERIMENT)
        run = client.run_pipeline(
            experiment.experiment_id,
            job_name=request["display_name"],
            params=request["parameter_values"],
            pipeline_id=pipeline_id,
            version_id=version_id,
            pipeline_root=request["pipeline_root"] or None,
            enable_caching=request["enable_caching"],
        )
    return run.run_id
