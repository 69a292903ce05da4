"""A stand-in for Kubeflow Pipelines' REST API (v2beta1) on loopback: the calls ``kfp.Client`` makes to upload and run.

It answers health, pipeline, pipeline version, experiment and run requests as KFP's API server does
(``backend/src/apiserver/server``), checks what it is sent the way that server does (a bare
PipelineSpec parsed strictly, schema 2.1.0; a run's parameters exactly the spec's root parameters,
``template/v2_template.go``), and records every request for the test to read.
"""

import itertools
import json
import threading
import urllib.parse

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

API = "/apis/v2beta1"


class Refusal(Exception):
    """What the API server answers 400 to."""


def parse_spec(text: bytes) -> dict:
    """The uploaded file as a PipelineSpec: YAML, no unknown field, schema 2.1.0 (or Refusal)."""
    document = yaml.safe_load(text)
    try:
        json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as err:
        raise Refusal(f"unknown template format: {err}") from None
    if document.get("schemaVersion") != "2.1.0":
        raise Refusal(
            f"KFP only supports schema version 2.1.0, but the pipeline spec has version {document.get('schemaVersion')}"
        )
    return document


class KfpStandIn:
    """The server and what it holds; ``refuse_runs`` makes every run creation fail with that message."""

    def __init__(self, refuse_runs: str = ""):
        self.refuse_runs = refuse_runs
        self.pipelines, self.versions, self.experiments, self.runs, self.requests = {}, {}, {}, [], []
        self._ids = (f"id-{n}" for n in itertools.count(1))
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> "KfpStandIn":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()

    @Request.application
    def app(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        try:
            return Response(json.dumps(self.answer(request)), content_type="application/json")
        except Refusal as err:
            body = {"error": str(err), "code": 3, "message": str(err), "details": []}
            return Response(json.dumps(body), status=400, content_type="application/json")

    def answer(self, request: Request) -> dict:
        route, query = request.path[len(API) :], request.args
        if route == "/healthz":
            return {"multi_user": False, "pipeline_store": "database"}
        if route == "/pipelines" and request.method == "GET":
            name = _equals(query.get("filter", ""), "display_name")
            found = [p for p in self.pipelines.values() if name is None or p["display_name"] == name]
            return {"pipelines": found, "total_size": len(found)} if found else {}
        if route == "/pipelines/upload":
            return self.upload(request.files["uploadfile"].read(), query["name"])
        if route == "/pipelines/upload_version":
            return self.add_version(request.files["uploadfile"].read(), query["pipelineid"], query["name"])
        if route.startswith("/pipelines/") and route.endswith("/versions"):
            found = [v for v in self.versions.values() if v["pipeline_id"] == route.split("/")[2]]
            shown = [
                {**{k: v for k, v in version.items() if k != "spec"}, "pipeline_spec": version["spec"]}
                for version in found
            ]
            return {"pipeline_versions": shown, "total_size": len(shown)}
        if route == "/experiments":
            return self.experiment(request, query)
        if route == "/runs" and request.method == "POST":
            return self.create_run(json.loads(request.data))
        raise Refusal(f"no route {request.method} {request.path}")

    def upload(self, text: bytes, name: str) -> dict:
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise Refusal(f"a pipeline named {name} already exists")
        pipeline = {"pipeline_id": next(self._ids), "display_name": name, "name": name}
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self.add_version(text, pipeline["pipeline_id"], name)
        return pipeline

    def add_version(self, text: bytes, pipeline_id: str, name: str) -> dict:
        version = {"pipeline_id": pipeline_id, "pipeline_version_id": next(self._ids), "display_name": name}
        self.versions[version["pipeline_version_id"]] = {**version, "spec": parse_spec(text)}
        return version

    def experiment(self, request: Request, query) -> dict:
        if request.method == "POST":
            body = json.loads(request.data)
            experiment = {"experiment_id": next(self._ids), "display_name": body["display_name"]}
            self.experiments[experiment["experiment_id"]] = experiment
            return experiment
        name = _equals(query.get("filter", ""), "display_name")
        found = [e for e in self.experiments.values() if name is None or e["display_name"] == name]
        return {"experiments": found, "total_size": len(found)} if found else {}

    def create_run(self, body: dict) -> dict:
        if self.refuse_runs:
            raise Refusal(self.refuse_runs)
        reference = body.get("pipeline_version_reference") or {}
        version = self.versions.get(reference.get("pipeline_version_id", ""))
        if version is None or body.get("experiment_id") not in self.experiments:
            raise Refusal(f"no such pipeline version or experiment: {body}")
        declared = set(version["spec"]["root"].get("inputDefinitions", {}).get("parameters", {}))
        given = set(body.get("runtime_config", {}).get("parameters", {}))
        if given != declared:
            raise Refusal(f"parameters {sorted(given)} given, the pipeline takes {sorted(declared)}")
        run = {**body, "run_id": next(self._ids), "state": "PENDING"}
        self.runs.append(run)
        return run


def _equals(text: str, key: str):
    """The value a KFP filter's EQUALS predicate on ``key`` asks for, or None."""
    if not text:
        return None
    for predicate in json.loads(urllib.parse.unquote(text)).get("predicates", []):
        if predicate.get("key") == key:
            return predicate.get("string_value", predicate.get("stringValue"))
    return None
