"""Submits a compiled pipeline to Vertex AI Pipelines or to a Kubeflow Pipelines (KFP 2) endpoint.

    python -m cloud.submit --cloud-config cloud.yaml                       # Vertex AI
    python -m cloud.submit --cloud-config cloud.yaml --target kfp --host https://HOST
    python -m cloud.submit --cloud-config cloud.yaml --param data_root=gs://BUCKET/data/mnist
    python -m cloud.submit --cloud-config cloud.yaml --dry-run             # prints the request, sends nothing

It sends the job that ``make compile`` wrote (--spec, default outputs/compiled/pipeline.json),
with its runtime parameters' defaults overridden by each --param; --pipeline-root moves every path
the job names under its compiled root (TensorBoard logs, backups, the default serving folder,
Dataflow's temp location) with the artifacts (``compiler.reroot``). ``python -m cloud.preflight``
runs the same job on this machine first. Google credentials are
Application Default Credentials (``gcloud auth application-default login`` or
GOOGLE_APPLICATION_CREDENTIALS), looked up only when sending. Exit status: 0 submitted,
1 the service could not be reached or refused the job, 2 a wrong argument or configuration
(cli/errors.py). Nothing here imports TensorFlow or TFX.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
from typing import Sequence

from cli.errors import run_command
from cli.parsing import Parser, boolean
from cloud import cloud_config as cloud_lib
from cloud import compiler, data_version, kfp_check, kfp_client
from data.layout import DATA_FINGERPRINT
from pipeline.config import ConfigError

PROG = "cloud.submit"
# What --dry-run shows for the fingerprint of a gs:// data root, which is listed only when a run is sent.
LISTED_WHEN_SENT = "(listed from data_root when sent)"
# Runtime parameter types as the compiled spec names them (schema 2.1, and 2.0's legacy names).
PARAMETER_TYPES = {"STRING": str, "NUMBER_INTEGER": int, "INT": int, "NUMBER_DOUBLE": float, "DOUBLE": float}


class SubmitError(RuntimeError):
    """The service could not be reached or refused the job."""


def read_job(path: str) -> dict:
    """The compiled PipelineJob (JSON with ``pipelineSpec`` and ``runtimeConfig``) at ``path``."""
    try:
        with open(path) as f:
            job = json.load(f)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the compiled pipeline ({err.strerror}); run `make compile`") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not JSON ({err})") from err
    if not isinstance(job, dict) or "pipelineSpec" not in job:
        raise ConfigError(f"{path}: not a compiled pipeline job (no pipelineSpec)")
    if not isinstance(job.get("runtimeConfig"), dict) or not job["runtimeConfig"].get("gcsOutputDirectory"):
        raise ConfigError(
            f"{path}: the compiled pipeline job names no pipeline root (runtimeConfig.gcsOutputDirectory)"
        )
    return job


def parameter_values(job: dict, overrides: Sequence[str]) -> dict:
    """The job's runtime parameter defaults with each ``name=value`` override, typed as the spec declares."""
    declared = job["pipelineSpec"]["root"].get("inputDefinitions", {}).get("parameters", {})
    runtime = job.get("runtimeConfig", {})
    # Schema 2.1 keeps plain values; 2.0 wraps each in {"stringValue": ...}-style objects.
    values = dict(runtime.get("parameterValues") or {})
    values.update({k: next(iter(v.values())) for k, v in (runtime.get("parameters") or {}).items()})
    for pair in overrides:
        name, sep, text = pair.partition("=")
        if not sep or name not in declared:
            raise ConfigError(f"--param {pair!r}: expected NAME=VALUE with NAME one of {sorted(declared)}")
        kind = declared[name].get("parameterType") or declared[name].get("type")
        try:
            values[name] = PARAMETER_TYPES[kind](text)
        except (KeyError, ValueError) as err:
            raise ConfigError(f"--param {name}: {text!r} is not a {kind} value") from err
    return values


def run_job(args: argparse.Namespace, job: dict) -> dict:
    """The job a run gets: ``job``, moved to ``--pipeline-root`` when one is given (``compiler.reroot``)."""
    return compiler.reroot(job, args.pipeline_root) if args.pipeline_root else job


def build_request(args: argparse.Namespace, cloud: cloud_lib.CloudConfig, job: dict) -> dict:
    """Everything that would be sent for ``job`` (after ``run_job``), as plain JSON values (what --dry-run prints)."""
    if args.target == compiler.KFP:
        kfp_check.check(job)  # nothing goes up that the backend would refuse
    values = parameter_values(job, args.param)
    if "data_root" in values:
        cloud_lib.check_gs_path("runtime parameter data_root", values["data_root"])
    request = {
        "target": args.target,
        "display_name": job.get("displayName") or job["pipelineSpec"]["pipelineInfo"]["name"],
        "spec": os.path.abspath(args.spec),
        "pipeline_root": job["runtimeConfig"]["gcsOutputDirectory"],
        # TensorBoard logs, backups, the default serving folder, Dataflow's temp: they follow the root.
        "paths_under_root": compiler.rooted_paths(job),
        # data_fingerprint is listed from a gs:// data root when the request is sent (send).
        "parameter_values": with_data_fingerprint(values, list_cloud=False),
        # None keeps each task's compiled caching option.
        "enable_caching": args.cache,
        "experiment": args.experiment,
    }
    if args.target == compiler.VERTEX:
        request.update(project=cloud.project, location=cloud.region, service_account=cloud.service_account or None)
    else:
        host = args.host or cloud.kfp_host
        if not host:
            raise ConfigError("--target kfp needs --host or kfp_host in the cloud config")
        request.update(host=host)
    return request


def with_data_fingerprint(values: dict, list_cloud: bool) -> dict:
    """``values`` with ``data_fingerprint`` taken from what ``data_root`` holds now, unless given.

    Listing a ``gs://`` root needs credentials, so a dry run says it would be listed instead.
    """
    if values.get(DATA_FINGERPRINT) not in ("", LISTED_WHEN_SENT) or "data_root" not in values:
        return values
    root = values["data_root"]
    if root.startswith(data_version.GS) and not list_cloud:
        return {**values, DATA_FINGERPRINT: LISTED_WHEN_SENT}
    return {**values, DATA_FINGERPRINT: data_version.fingerprint(root)}


def submit_vertex(request: dict, job: dict) -> str:
    """Creates the Vertex AI PipelineJob of ``job`` and returns its resource name."""
    from google.cloud import aiplatform

    with tempfile.TemporaryDirectory() as folder:
        template = os.path.join(folder, "pipeline.json")
        with open(template, "w") as f:
            json.dump(job, f)
        pipeline_job = aiplatform.PipelineJob(
            display_name=request["display_name"],
            template_path=template,
            pipeline_root=request["pipeline_root"] or None,
            parameter_values=request["parameter_values"],
            enable_caching=request["enable_caching"],
            project=request["project"],
            location=request["location"],
        )
    pipeline_job.submit(service_account=request["service_account"], experiment=request["experiment"])
    return pipeline_job.resource_name


@contextlib.contextmanager
def reaching(service: str):
    """Failures to reach or authenticate with ``service`` become a ``SubmitError`` with one line."""
    # Imported here, not at the top: they take seconds, and --dry-run needs none of them.
    import google.auth.exceptions
    import urllib3.exceptions
    from google.api_core import exceptions as api_exceptions
    from kfp_server_api.exceptions import ApiException

    try:
        yield
    except google.auth.exceptions.DefaultCredentialsError as err:
        raise SubmitError(
            "no Google Cloud credentials: run `gcloud auth application-default login` or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
        ) from err
    except google.auth.exceptions.GoogleAuthError as err:
        raise SubmitError(f"Google Cloud authentication failed: {_one_line(err)}") from err
    except api_exceptions.GoogleAPIError as err:
        raise SubmitError(f"{service} refused the request: {_one_line(err)}") from err
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise SubmitError(f"cannot reach {service}: {_one_line(err)}") from err
    except ApiException as err:
        raise SubmitError(f"{service} refused the run ({err.status}): {_api_message(err)}") from err


def _api_message(err) -> str:
    """What KFP's API server said in its error body (``{"error": ..., "message": ...}``), else the whole error."""
    try:
        body = json.loads(err.body or "")
    except (TypeError, ValueError):
        return _one_line(err)
    return _one_line(body.get("message") or body.get("error") or err) if isinstance(body, dict) else _one_line(err)


def send(request: dict, job: dict) -> str:
    """Fingerprints the data, then sends ``request``; failures become a ``SubmitError`` with one line."""
    with reaching("Cloud Storage"):
        request = {**request, "parameter_values": with_data_fingerprint(request["parameter_values"], list_cloud=True)}
    if request["target"] == compiler.VERTEX:
        with reaching("Vertex AI"):
            return "Vertex AI pipeline job " + submit_vertex(request, job)
    with reaching(f"Kubeflow Pipelines at {request['host']}"):
        return f"Kubeflow Pipelines run {kfp_client.start_run(request, job)} on {request['host']}"


def _one_line(err: BaseException) -> str:
    """The error's message on one line, cut to a readable length."""
    return " ".join(str(err).split())[:500]


def build_parser() -> Parser:
    """The command line (see the module docstring)."""
    parser = Parser(PROG, __doc__)
    parser.add_argument("--cloud-config", help=f"the cloud config, YAML or JSON (default ${cloud_lib.ENV_VAR})")
    parser.add_argument("--spec", default=compiler.default_output(), help="the compiled pipeline job")
    parser.add_argument(
        "--target", choices=compiler.TARGETS, default=compiler.VERTEX, help="Vertex AI Pipelines or a KFP 2 backend"
    )
    parser.add_argument("--host", help="the KFP endpoint (default: kfp_host in the cloud config)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a runtime parameter's value (repeatable)"
    )
    parser.add_argument("--pipeline-root", help="gs:// root for this run's artifacts (default: the compiled one)")
    parser.add_argument("--experiment", help="the experiment to file the run under")
    boolean(parser, "--cache", default=None, help="look steps up in the cache, or not (default: as compiled)")
    boolean(parser, "--dry-run", default=False, help="print the request as JSON and send nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: builds the request, prints it (--dry-run) or sends it; failures become one line."""
    args = build_parser().parse_args(argv)

    def body() -> None:
        if args.pipeline_root:
            cloud_lib.check_gs_path("--pipeline-root", args.pipeline_root)
        job = run_job(args, read_job(args.spec))
        cloud = cloud_lib.load(args.cloud_config)
        cloud_lib.pipeline_config(cloud)  # the `pipeline:` section, checked as compile checks it
        request = build_request(args, cloud, job)
        if args.dry_run:
            print(json.dumps(request, indent=2, sort_keys=True))
        else:
            print(f"submitted: {send(request, job)}")

    return run_command(PROG, body, usage=(ConfigError,), failed=(SubmitError,))


if __name__ == "__main__":
    sys.exit(main())
