"""The metadata store itself: opening it, its context names and the lookups every query needs.

Opens a local SQLite store read-only, so inspecting never creates or changes a store, or a
metadata gRPC service (Kubeflow's) by host and port. Context and type names depend on who
recorded the runs, TFX or a KFP 2 backend (inspection/store_layout.py). Every other module of this package, and
through them the CLI, the notebooks, the benchmarks and the tests, reach MLMD only through here.
"""

import os
from typing import Dict, Optional

import ml_metadata as mlmd
from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2

from inspection import store_layout

LATEST = "latest"

# What a local run adds to its run context (local/bookkeeping.py): the command line's flags, every
# setting as JSON, the DAG as JSON ``{node: [upstream nodes]}``, the run's log file and the error it ended with.
RUN_FLAGS = "run_flags"
RUN_SETTINGS = "run_settings"
RUN_DAG = "run_dag"
RUN_LOG = "run_log"
RUN_ERROR = "run_error"

# The Kubeflow Pipelines metadata service listens here (service metadata-grpc-service, namespace kubeflow).
GRPC_PORT = 8080

State = metadata_store_pb2.Execution.State

Event = metadata_store_pb2.Event

StoreError = mlmd_errors.StatusError  # what MLMD itself raises on a failed query (e.g. an unreachable server)


class MetadataError(RuntimeError):
    """The store is missing, unreadable, or has no such pipeline, run or artifact."""


def grpc_config(host: str, port: int = GRPC_PORT) -> metadata_store_pb2.MetadataStoreClientConfig:
    """Client configuration for a metadata gRPC service, e.g. Kubeflow's ``metadata-grpc-service``."""
    return metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port)


def open_store(sqlite_path: str = "", grpc_host: str = "", grpc_port: int = GRPC_PORT) -> mlmd.MetadataStore:
    """Opens an existing SQLite store read-only, or, given ``grpc_host``, a metadata gRPC service.

    A gRPC connection is made lazily: an unreachable service shows up as ``StoreError`` on the first query.
    """
    if grpc_host:
        return mlmd.MetadataStore(grpc_config(grpc_host, grpc_port))
    if not os.path.isfile(sqlite_path):
        raise MetadataError(f"{sqlite_path}: no metadata store there (has the pipeline run yet?)")
    if os.path.getsize(sqlite_path) == 0:
        raise MetadataError(f"{sqlite_path}: empty file, not a metadata store")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    try:
        return mlmd.MetadataStore(config)
    except Exception as err:  # noqa: BLE001  (MLMD raises its own status errors)
        reason = str(err).split(" query:", 1)[0]  # MLMD appends the failing SQL statement
        raise MetadataError(f"{sqlite_path}: not a readable metadata store ({reason})") from err


def type_names(types) -> Dict[int, str]:
    """Maps type id to type name."""
    return {t.id: t.name for t in types}


def artifact_type_names(store: mlmd.MetadataStore) -> Dict[int, str]:
    """Maps artifact type id to the name queries use (``Model``, in either layout)."""
    shown = store_layout.of(store).shown_type
    return {t.id: shown(t.name) for t in store.get_artifact_types()}


def contexts_of_type(store: mlmd.MetadataStore, type_name: str) -> list:
    """Contexts of one type; none (rather than an error) when the type was never registered."""
    try:
        return store.get_contexts_by_type(type_name)
    except mlmd_errors.NotFoundError:
        return []


def run_context(store: mlmd.MetadataStore, run_id: str):
    """The context of run ``run_id`` (TFX's ``pipeline_run`` or KFP's ``system.PipelineRun``)."""
    context = store.get_context_by_type_and_name(store_layout.of(store).run_context, run_id)
    if context is None:
        raise MetadataError(f"no run {run_id!r} in this store")
    return context


def artifact_type_id(store: mlmd.MetadataStore, type_name: str) -> Optional[int]:
    """The id of an artifact type named the TFX way (``Model``), or None when no artifact of it was ever recorded."""
    try:
        return store.get_artifact_type(store_layout.of(store).stored_type(type_name)).id
    except mlmd_errors.NotFoundError:
        return None
