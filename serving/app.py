"""TF Serving's REST API for the pushed model, as a FastAPI app: the routes, the predict path and the error body.

Routes (``/versions/{v}`` may follow the model name in each; docs/serving.md has the grammar):

* ``GET  /v1/models/{name}``: the state of every version (TF Serving's GetModelStatus);
* ``GET  /v1/models/{name}/metadata``: a version's signature defs, ``image_shape`` and pixel range;
* ``POST /v1/models/{name}:predict``: ``{"instances": [...]}`` or ``{"inputs": ...}`` (serving/codec.py), sent as
  is or gzip (serving/content_coding.py).

A request without ``/versions/{v}`` goes to the newest served version (serving/manager.py). A client
mistake gets a 4xx with ``{"error": "..."}``, a saturated server a 503 with Retry-After
(serving/limits.py, serving/batching.py), a fault a 500 that names no internals.
"""

import logging
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving import codec
from serving.batching import QueueFull
from serving.content_coding import read_decoded_body
from serving.images import quoted
from serving.limits import (
    BodyBudget,
    ClientGone,
    Limits,
    RequestError,
    error_response,
    shed,
)
from serving.loaded_model import ServedModel
from serving.manager import ModelManager
from serving.versions import version_of

log = logging.getLogger(__name__)

VERSION_HEADER = "X-Model-Version"  # which version answered a predict; TF Serving's JSON body has no room for it
PREDICT_VERB = "predict"
# A body up to this size is decoded on the event loop: a thread hop would cost more than the decoding.
INLINE_BODY_BYTES = 64 * 1024


class Endpoint:
    """The model behind the routes: which version answers, and a predict on it."""

    def __init__(self, manager: ModelManager, model_name: str, limits: Limits):
        self.manager, self.model_name, self.limits = manager, model_name, limits
        self.budget = BodyBudget(limits.max_buffered_body_bytes)

    def check_name(self, name: str) -> None:
        """RequestError 404 for another model's name, 405 for ``{name}:predict`` asked with GET."""
        if name == self.model_name:
            return
        if name == f"{self.model_name}:{PREDICT_VERB}":
            raise RequestError(405, f"{PREDICT_VERB} takes POST, not GET", {"Allow": "POST"})
        raise RequestError(404, f"unknown model {quoted(name)}: this server serves {self.model_name!r}")

    def version_number(self, version: Optional[str]) -> Optional[int]:
        """The version a path names (None when it names none); RequestError 400 when it is not a version."""
        if version is None:
            return None
        if version.endswith(f":{PREDICT_VERB}"):
            raise RequestError(405, f"{PREDICT_VERB} takes POST, not GET", {"Allow": "POST"})
        number = version_of(version)
        if number is None:
            raise RequestError(
                400, f"a version is a non-negative 64-bit integer in ASCII digits, got {quoted(version)}"
            )
        return number

    def served(self, name: str, version: Optional[str]) -> ServedModel:
        """The version that answers a request for ``name`` and ``version`` (the newest served when None)."""
        self.check_name(name)
        number = self.version_number(version)
        model = self.manager.get(number)
        if model is not None:
            return model
        if number is None:
            raise shed(f"model {name!r} has no version loaded yet")
        served = sorted(self.manager.served)
        raise RequestError(404, f"version {number} of model {name!r} is not served; served versions: {served}")

    def decode(self, body: bytes, model: ServedModel):
        """The request's images and whether it was columnar; RequestError 400 for a client mistake."""
        try:
            return codec.parse_request(body, model, self.limits.max_instances)
        except codec.InputError as e:
            raise RequestError(400, str(e)) from None

    @staticmethod
    def render(outputs, columnar: bool, model: ServedModel) -> JSONResponse:
        """The predict response, marked with the version that answered."""
        content = codec.columnar_response(outputs) if columnar else codec.row_response(outputs)
        return JSONResponse(content, headers={VERSION_HEADER: str(model.version)})

    def predict_now(self, body: bytes, model: ServedModel) -> JSONResponse:
        """Decodes, predicts and renders in one go (a worker thread, when batching is off)."""
        images, columnar = self.decode(body, model)
        return self.render(model.predict(images), columnar, model)

    async def predict(self, body: bytes, model: ServedModel) -> JSONResponse:
        """The predict response, through the version's batcher when batching is on."""
        if model.batcher is None:
            return await run_in_threadpool(self.predict_now, body, model)
        inline = len(body) <= INLINE_BODY_BYTES
        images, columnar = self.decode(body, model) if inline else await run_in_threadpool(self.decode, body, model)
        try:
            outputs = await model.batcher.predict(images)
        except QueueFull as e:
            raise shed(f"the batch queue is full ({e})") from None
        if inline:
            return self.render(outputs, columnar, model)
        return await run_in_threadpool(self.render, outputs, columnar, model)


def version_status(version: int, status) -> dict:
    """One entry of GetModelStatus's ``model_version_status``."""
    error = {"error_code": "UNKNOWN" if status.error else "OK", "error_message": status.error}
    return {"version": str(version), "state": status.state, "status": error}


def create_app(manager: ModelManager, model_name: str, limits: Optional[Limits] = None) -> FastAPI:
    """The REST app serving ``manager``'s versions as ``model_name`` (default ``Limits``)."""
    endpoint = Endpoint(manager, model_name, limits or Limits())
    app = FastAPI(title=f"{model_name} (TF Serving REST API)", docs_url=None, redoc_url=None, openapi_url=None)

    async def model_predict(request: Request) -> Response:
        """TF Serving's Predict, row or columnar format."""
        with endpoint.budget.share() as grow_to:  # the body counts until its request is answered
            body = await read_decoded_body(request, endpoint.limits, grow_to)
            path = request.path_params
            return await endpoint.predict(body, endpoint.served(path["name"], path.get("version")))

    # Plain Starlette routes, first in line: FastAPI's parameter parsing would cost more than a small predict.
    for path in ("/v1/models/{name}:predict", "/v1/models/{name}/versions/{version}:predict"):
        app.add_route(path, model_predict, methods=["POST"])

    @app.get("/v1/models/{name}")
    @app.get("/v1/models/{name}/versions/{version}")
    def model_status(name: str, version: Optional[str] = None) -> dict:
        """TF Serving's GetModelStatus: every version's state, or the one asked for."""
        endpoint.check_name(name)
        number = endpoint.version_number(version)
        statuses = manager.status()
        if number is not None and number not in statuses:
            raise RequestError(404, f"version {number} of model {name!r} was never loaded; known: {sorted(statuses)}")
        if not statuses:
            raise shed(f"model {name!r} has no version loaded yet")
        shown = [number] if number is not None else sorted(statuses, reverse=True)
        return {"model_version_status": [version_status(v, statuses[v]) for v in shown]}

    @app.get("/v1/models/{name}/metadata")
    @app.get("/v1/models/{name}/versions/{version}/metadata")
    def model_metadata(name: str, version: Optional[str] = None) -> dict:
        """TF Serving's GetModelMetadata, plus ``metadata.image_shape``."""
        model = endpoint.served(name, version)
        spec = {"name": name, "signature_name": "", "version": str(model.version)}
        return {"model_spec": spec, "metadata": model.metadata}

    add_error_handlers(app, model_name)
    return app


def add_error_handlers(app: FastAPI, model_name: str) -> None:
    """Every error in TF Serving's body, ``{"error": ...}``: refusals, Starlette's own, and server faults."""

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> Response:
        """A refused request: its status, message and headers."""
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(ClientGone)
    async def gone(request: Request, exc: ClientGone) -> Response:
        """The client left mid-request: an expected event, not a fault; the response goes nowhere."""
        log.debug("client %s left before its request body was in", request.client)
        return Response(status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def no_route(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own errors (no such route, wrong method) in TF Serving's error body."""
        message = f"{exc.detail}: {request.method} {quoted(request.url.path)}"
        if exc.status_code in (404, 405):
            message += (
                f"; the API is GET /v1/models/{model_name}[/versions/V][/metadata] "
                f"and POST /v1/models/{model_name}[/versions/V]:predict"
            )
        return error_response(exc.status_code, message, exc.headers)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        """A 500 that names no internals; the log has the traceback."""
        # Only a server fault gets here (client mistakes are RequestErrors); uvicorn logs the traceback.
        return error_response(500, "internal error: see the server log")
