"""The web UI's routes: runs, a run, compare, mistakes, lineage, data, try it, and files inside artifacts.

    GET /                                   the pipeline's runs, newest first (?page=N, 50 a page)
    GET /runs/{run_id}[?component=NODE]     the DAG, a component's artifacts, trials, epochs, evaluation, data
    GET /runs/{run_id}/data                 label counts per split and sample images per class
    GET /runs/{run_id}/mistakes             the test examples the run's model gets wrong
    GET /runs/{run_id}/lineage              the pushed model traced back to its data
    GET /compare?run=A&run=B[&run=C...]     runs side by side
    GET /try                                draw a digit or drop an image; the model answers
    GET /artifacts/{id}/{path}              a file or folder inside that artifact's folder, nothing outside
    /serving/v1/models/{name}...            the REST API (serving/app.py) on the pushed model, in this process

Read-only: the store is opened read-only (inspection/store.py) and nothing is written. Every
value is escaped by Jinja2's autoescaping, and a Content-Security-Policy allows this origin only.
"""

import os
import threading
from typing import List, Optional

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from inspection import run_table
from inspection.store import MetadataError, StoreError, open_store
from ui import pictures, results_view, run_page
from ui.run_page import NotFound

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE_SIZE = 50
# Everything from this origin; images may also be data: URIs (the mistakes, the samples).
CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
TEXT_FILE_BYTES = 1 << 20  # files up to this size that decode as UTF-8 are shown as text
RUN_IDS = Query(default=[], description="the runs to compare, two or more")


class Source:
    """The store the pages read: a SQLite file or a gRPC service, opened on first use (it may not exist yet)."""

    def __init__(self, pipeline_name: str, metadata_path: str = "", grpc_host: str = "", grpc_port: int = 0):
        self.pipeline_name, self.metadata_path = pipeline_name, metadata_path
        self.grpc_host, self.grpc_port = grpc_host, grpc_port
        self.lock = threading.Lock()  # an MLMD store object serves one query at a time
        self._store = None

    @property
    def where(self) -> str:
        """The store's path, or the gRPC service's address."""
        return f"{self.grpc_host}:{self.grpc_port}" if self.grpc_host else self.metadata_path

    def store(self):
        """The open store; MetadataError (naming the path) while there is none."""
        if self._store is None:
            self._store = open_store(self.metadata_path, self.grpc_host, self.grpc_port)
        return self._store


class Pages:
    """What every route needs: the store, the templates, a page renderer, the mistakes computed so far."""

    def __init__(self, source: Source, model_name: str, serving: bool):
        self.source, self.model_name, self.serving = source, model_name, serving
        self.templates = Jinja2Templates(directory=os.path.join(HERE, "templates"))
        self.mistakes = pictures.Mistakes()

    def page(self, request: Request, name: str, status: int = 200, **values) -> HTMLResponse:
        """The template ``name`` rendered (autoescaped) with ``values``."""
        values.update(request=request, pipeline=self.source.pipeline_name, where=self.source.where)
        return self.templates.TemplateResponse(request, name, values, status_code=status)

    def load(self, run_id: str) -> run_page.RunData:
        """One run of the pipeline (call holding ``source.lock``)."""
        return run_page.load(self.source.store(), self.source.pipeline_name, run_id)


def create_app(source: Source, serving_app: Optional[FastAPI] = None, model_name: str = "") -> FastAPI:
    """The UI for ``source``'s pipeline; ``serving_app`` (the REST API on the pushed model) is mounted at /serving."""
    app = FastAPI(title="Pipeline runs", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static")
    if serving_app is not None:
        app.mount("/serving", serving_app)
    pages = Pages(source, model_name, serving_app is not None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    add_error_pages(app, pages)
    app.include_router(run_routes(pages))
    app.include_router(other_routes(pages))
    return app


def add_error_pages(app: FastAPI, pages: Pages) -> None:
    """A missing run, route or file is a 404 page; a missing or failing store a 503 page naming it."""

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> HTMLResponse:
        return pages.page(request, "error.html", 404, title="Not found", message=str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        return pages.page(request, "error.html", exc.status_code, title=str(exc.detail), message=request.url.path)

    @app.exception_handler(MetadataError)
    async def no_store(request: Request, exc: MetadataError) -> HTMLResponse:
        return pages.page(request, "error.html", 503, title="No metadata store", message=str(exc))

    @app.exception_handler(StoreError)
    async def store_failed(request: Request, exc: StoreError) -> HTMLResponse:
        message = f"{pages.source.where}: {exc}"
        return pages.page(request, "error.html", 503, title="Metadata store error", message=message)


def run_routes(pages: Pages) -> APIRouter:
    """The runs page and each run's pages."""
    router, source = APIRouter(), pages.source

    @router.get("/", response_class=HTMLResponse)
    def runs(request: Request, page_number: int = Query(1, alias="page", ge=1)):
        with source.lock:
            store = source.store()
            run_page.require_known(store, source.pipeline_name)
            total, rows = run_table.run_page(store, source.pipeline_name, (page_number - 1) * PAGE_SIZE, PAGE_SIZE)
        pages_count = max(1, -(-total // PAGE_SIZE))
        return pages.page(request, "runs.html", rows=rows, total=total, page_number=page_number, pages=pages_count)

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run(request: Request, run_id: str, component: str = ""):
        with source.lock:
            data = pages.load(run_id)
            values = dict(
                data=data,
                dag=run_page.dag_chart(data),
                component=run_page.component(data, component) if component else None,
                trials=run_page.trials(data),
                epochs=run_page.epochs(data),
                evaluation=results_view.evaluation(source.store(), data),
                summary=results_view.data_summary(data),
            )
        return pages.page(request, "run.html", **values)

    @router.get("/runs/{run_id}/data", response_class=HTMLResponse)
    def data_page(request: Request, run_id: str):
        with source.lock:
            data = pages.load(run_id)
            summary = results_view.data_summary(data)
        examples = data.output("Examples", "ImportExampleGen")
        splits = list(summary.get("splits", {}))
        shown = {split: pictures.samples(examples.uri, split) for split in splits[:1]} if examples else {}
        return pages.page(request, "data.html", data=data, summary=summary, samples=shown)

    @router.get("/runs/{run_id}/mistakes", response_class=HTMLResponse)
    def mistakes_page(request: Request, run_id: str):
        with source.lock:
            data = pages.load(run_id)
        examples, model_path = data.output("Examples", "ImportExampleGen"), _model_path(data)
        if examples is None or not model_path:
            raise NotFound(f"run {run_id!r} has no model and test split to look for mistakes in")
        found = pages.mistakes.of(model_path, examples.uri)
        return pages.page(request, "mistakes.html", data=data, model_path=model_path, mistakes=found)

    @router.get("/runs/{run_id}/lineage", response_class=HTMLResponse)
    def lineage_page(request: Request, run_id: str):
        with source.lock:
            data = pages.load(run_id)
            found = results_view.lineage_view(source.store(), source.pipeline_name, data)
        return pages.page(request, "lineage.html", data=data, lineage=found)

    return router


def other_routes(pages: Pages) -> APIRouter:
    """Compare, try it, and the files inside artifacts."""
    router, source = APIRouter(), pages.source

    @router.get("/compare", response_class=HTMLResponse)
    def compare(request: Request, run: List[str] = RUN_IDS):
        if len(run) < 2:
            raise NotFound("compare needs two or more runs: /compare?run=A&run=B")
        with source.lock:
            runs = [pages.load(run_id) for run_id in run]
            compared = results_view.compare(source.store(), runs)
        return pages.page(request, "compare.html", runs=runs, compared=compared)

    @router.get("/try", response_class=HTMLResponse)
    def try_it(request: Request):
        return pages.page(request, "try.html", model_name=pages.model_name, serving=pages.serving)

    @router.get("/artifacts/{artifact_id}/{path:path}")
    def artifact_file(request: Request, artifact_id: int, path: str = ""):
        with source.lock:
            found = source.store().get_artifacts_by_id([artifact_id])
        if not found:
            raise NotFound(f"no artifact {artifact_id}")
        return _artifact_file(request, pages, found[0], artifact_id, path)

    return router


def _model_path(data: run_page.RunData) -> str:
    """The run's pushed model folder, else the SavedModel its Trainer wrote; empty when it has neither."""
    pushed = data.output("PushedModel")
    if pushed is not None and pushed.properties.get("pushed") == 1:
        return str(pushed.properties.get("pushed_destination") or pushed.uri)
    model = data.output("Model", "Trainer")
    serving = os.path.join(model.uri, "Format-Serving") if model is not None else ""
    return serving if serving and os.path.isdir(serving) else ""


def inside(root: str, path: str) -> str:
    """``path`` under the folder ``root``, resolved (links included); NotFound when it leads outside ``root``."""
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, path.lstrip("/")) if path else base)
    if os.path.isabs(path) or os.path.commonpath([base, target]) != base:
        raise NotFound(f"{path!r} is outside the artifact's folder")
    if not os.path.exists(target):
        raise NotFound(f"no file {path!r} in the artifact's folder")
    return target


def _artifact_file(request: Request, pages: Pages, artifact, artifact_id: int, path: str) -> Response:
    """A listing of a folder inside the artifact, a text file as text, anything else as a download."""
    if not os.path.isdir(artifact.uri):
        raise NotFound(f"artifact {artifact_id}'s folder {artifact.uri} is not on this machine")
    target = inside(artifact.uri, path)
    if os.path.isdir(target):
        entries = sorted(os.listdir(target))
        links = [(name + ("/" if os.path.isdir(os.path.join(target, name)) else ""), name) for name in entries]
        return pages.page(request, "files.html", artifact=artifact, artifact_id=artifact_id, path=path, links=links)
    if os.path.getsize(target) <= TEXT_FILE_BYTES:
        with open(target, "rb") as f:
            content = f.read()
        try:
            return PlainTextResponse(content.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return FileResponse(target, media_type="application/octet-stream", filename=os.path.basename(target))
