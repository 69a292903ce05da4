"""TF Serving's REST API for the pushed model, on FastAPI and uvicorn.

    python -m serving.server --serving-dir outputs/serving/digits-convnet --model-name digits \\
        [--host 127.0.0.1 --port 8501]

Routes (``/versions/{v}`` may follow the model name in each):

* ``GET  /v1/models/{name}``: the served version's status;
* ``GET  /v1/models/{name}/metadata``: its signature defs and ``image_shape``;
* ``POST /v1/models/{name}:predict``: ``{"instances": [...]}`` or ``{"inputs": ...}`` (serving/codec.py).

It serves the newest version in the serving folder and swaps in newer ones as the Pusher
writes them (serving/model.py). A client mistake gets a 4xx with ``{"error": "..."}``.
"""

import argparse
import dataclasses
import logging
import os
import sys
from typing import Optional

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving import codec
from serving.model import ModelManager, ServedModel

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501  # TF Serving's REST port
VERSION_HEADER = "X-Model-Version"  # which version answered a predict; TF Serving's JSON body has no room for it


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request limits; a request over one gets a 413 (body) or 400 (instances)."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_instances: int = 1024


class RequestError(Exception):
    """A request the server refuses, with the HTTP status and the message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> JSONResponse:
    """TF Serving's error body, ``{"error": "..."}``."""
    return JSONResponse({"error": message}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or RequestError 413 once it passes ``limit`` bytes.

    An oversized body is still read to its end (and dropped), so that the client, which is
    still sending, gets the 413 rather than a reset connection.
    """
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise RequestError(413, f"the request body has {size} bytes; the limit is {limit}")
    return b"".join(chunks)


class Endpoint:
    """The model behind the routes: which version answers, and a predict on it."""

    def __init__(self, manager: ModelManager, model_name: str, limits: Limits):
        self.manager, self.model_name, self.limits = manager, model_name, limits

    def served(self, name: str, version: Optional[str]) -> ServedModel:
        """The version serving now, checked against the model name and version in the path."""
        if name != self.model_name:
            raise RequestError(404, f"unknown model {name!r}: this server serves {self.model_name!r}")
        model = self.manager.current
        if model is None:
            raise RequestError(503, f"model {name!r} has no version loaded yet")
        if version is not None:
            if not version.isdigit():
                raise RequestError(400, f"a version is a non-negative integer, got {version!r}")
            if int(version) != model.version:
                raise RequestError(
                    404, f"version {version} of model {name!r} is not served; version {model.version} is"
                )
        return model

    def predict(self, body: bytes, name: str, version: Optional[str]) -> JSONResponse:
        """Decodes, predicts and renders in a worker thread, on the version current when it started."""
        model = self.served(name, version)
        try:
            images, columnar = codec.parse_request(body, model, self.limits.max_instances)
        except codec.InputError as e:
            raise RequestError(400, str(e)) from None
        outputs = model.predict(images)
        content = codec.columnar_response(outputs) if columnar else codec.row_response(outputs)
        return JSONResponse(content, headers={VERSION_HEADER: str(model.version)})


def create_app(manager: ModelManager, model_name: str, limits: Optional[Limits] = None) -> FastAPI:
    """The REST app serving ``manager``'s current version as ``model_name`` (default ``Limits``)."""
    endpoint = Endpoint(manager, model_name, limits or Limits())
    app = FastAPI(title=f"{model_name} (TF Serving REST API)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/models/{name}")
    @app.get("/v1/models/{name}/versions/{version}")
    def model_status(name: str, version: Optional[str] = None) -> dict:
        """TF Serving's GetModelStatus: the one version served, AVAILABLE."""
        model = endpoint.served(name, version)
        status = {"error_code": "OK", "error_message": ""}
        return {"model_version_status": [{"version": str(model.version), "state": "AVAILABLE", "status": status}]}

    @app.get("/v1/models/{name}/metadata")
    @app.get("/v1/models/{name}/versions/{version}/metadata")
    def model_metadata(name: str, version: Optional[str] = None) -> dict:
        """TF Serving's GetModelMetadata, plus ``metadata.image_shape``."""
        model = endpoint.served(name, version)
        spec = {"name": name, "signature_name": "", "version": str(model.version)}
        return {"model_spec": spec, "metadata": model.metadata}

    @app.post("/v1/models/{name}:predict")
    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def model_predict(request: Request, name: str, version: Optional[str] = None) -> JSONResponse:
        """TF Serving's Predict, row or columnar format."""
        body = await read_body(request, endpoint.limits.max_body_bytes)
        return await run_in_threadpool(endpoint.predict, body, name, version)

    add_error_handlers(app, model_name)
    return app


def add_error_handlers(app: FastAPI, model_name: str) -> None:
    """Every error in TF Serving's body, ``{"error": ...}``: refusals, Starlette's own, and server faults."""

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        """A refused request: its status and message."""
        return error_response(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def no_route(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own errors (no such route, wrong method) in TF Serving's error body."""
        message = f"{exc.detail}: {request.method} {request.url.path}"
        if exc.status_code in (404, 405):
            message += (
                f"; the API is GET /v1/models/{model_name}[/versions/V][/metadata] "
                f"and POST /v1/models/{model_name}[/versions/V]:predict"
            )
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        """A 500 with ``{"error": ...}``."""
        # Only a server fault gets here (client mistakes are RequestErrors); uvicorn logs the traceback.
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


def main(argv=None) -> int:
    """Loads the newest version, starts polling for new ones and serves until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serving-dir", required=True, help="the Pusher's folder of <version>/ SavedModels")
    parser.add_argument("--model-name", required=True, help="the {name} in /v1/models/{name}")
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for a new version")
    parser.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes)
    parser.add_argument("--max-instances", type=int, default=Limits.max_instances, help="per request")
    parser.add_argument("--access-log", action="store_true", help="log every request (off: it costs throughput)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if not os.path.isdir(args.serving_dir):
        parser.error(f"--serving-dir {args.serving_dir}: no such folder")
    if args.max_body_bytes < 1 or args.max_instances < 1 or args.poll_seconds <= 0:
        parser.error("--max-body-bytes, --max-instances and --poll-seconds must be positive")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    manager = ModelManager(args.serving_dir, args.poll_seconds)
    manager.start()
    try:
        app = create_app(manager, args.model_name, Limits(args.max_body_bytes, args.max_instances))
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    finally:
        manager.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
