"""What a local run adds to ML Metadata beyond TFX's own records: how it ended, and what it was asked to do.

TFX records executions, artifacts and a ``pipeline_run`` context per run. A run stopped by Ctrl-C
or SIGTERM would stay ``RUNNING`` there, so ``record_interrupted`` marks it ``CANCELED``. A run
context says nothing of the flags, settings or DAG behind it, which the web UI (ui/) shows and
compares, and TFX records no error for a component that raised: ``record_run`` adds them as the
context's custom properties (names in inspection/store.py). Both write after TFX has finished with
the store, under the run's lock.
"""

import dataclasses
import json
import shlex
from typing import Dict, List, Sequence

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from inspection import store as store_lib
from pipeline.config import PipelineConfig


def writable_store(path: str) -> mlmd.MetadataStore:
    """The run's SQLite store opened for writing (it exists: TFX made it)."""
    connection = pb.ConnectionConfig()
    connection.sqlite.filename_uri = path
    connection.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE
    return mlmd.MetadataStore(connection)


def record_interrupted(config: PipelineConfig) -> int:
    """Marks this pipeline's executions left RUNNING as CANCELED, so ``inspection runs`` says the run was stopped.

    The run holds the store's lock, so no other run of it is running; returns how many it marked.
    """
    store = writable_store(config.metadata_path)
    pipeline = store.get_context_by_type_and_name("pipeline", config.pipeline_name)
    if pipeline is None:
        return 0
    running = [
        execution
        for execution in store.get_executions_by_context(pipeline.id)
        if execution.last_known_state in (pb.Execution.NEW, pb.Execution.RUNNING)
    ]
    for execution in running:
        execution.last_known_state = pb.Execution.CANCELED
    store.put_executions(running)
    return len(running)


def record_run(
    config: PipelineConfig, run_id: str, flags: Sequence[str], dag: Dict[str, List[str]], log_path: str, error: str = ""
) -> bool:
    """Adds the run's flags, settings, DAG (``{node: [upstream nodes]}``), log path and error to its run context.

    ``error`` is the line the run ended with when it failed (TFX records no error for an executor
    that raised), empty when it succeeded.

    Returns False when TFX recorded no such run (it stopped before its first component started).
    """
    store = writable_store(config.metadata_path)
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        return False
    values = {
        store_lib.RUN_FLAGS: shlex.join(flags),
        store_lib.RUN_SETTINGS: json.dumps(dataclasses.asdict(config), sort_keys=True, default=str),
        store_lib.RUN_DAG: json.dumps(dag, sort_keys=True),
        store_lib.RUN_LOG: log_path,
        store_lib.RUN_ERROR: error,
    }
    for key, value in values.items():
        context.custom_properties[key].string_value = value
    store.put_contexts([context])
    return True
