"""The notebooks' first cell: library notices to a log file, and which metadata store and run to read.

Defaults are what ``make run`` writes. ``make notebooks`` sets PIPELINE_OUTPUT_ROOT; the tests
point PIPELINE_METADATA_PATH, PIPELINE_NAME and PIPELINE_RUN_ID at their own run. TensorFlow's
start-up lines about CUDA, Google's Python-version FutureWarnings and TFMA's deprecation notices
would fill the first cells with red blocks; ``quiet_kernel`` sends them to a log instead, as a
local run's console does (local/console.py).
"""

import dataclasses
import logging
import os
import tempfile
from typing import Mapping, Optional

import ml_metadata as mlmd

from inspection.store import LATEST, open_store
from pipeline.config import DEFAULT_OUTPUT_ROOT, OUTPUT_ROOT_ENV, PROJECT_ROOT, get_config

METADATA_PATH_ENV = "PIPELINE_METADATA_PATH"
PIPELINE_NAME_ENV = "PIPELINE_NAME"
RUN_ID_ENV = "PIPELINE_RUN_ID"
LOG_ENV = "PIPELINE_NOTEBOOK_LOG"


@dataclasses.dataclass(frozen=True)
class Target:
    """An open metadata store, the pipeline to read in it and the run (an id, or ``latest``)."""

    store: mlmd.MetadataStore
    metadata_path: str
    pipeline_name: str
    run_id: str


def open_target(environ: Optional[Mapping[str, str]] = None) -> Target:
    """Opens the store the environment names (default: ``make run``'s) and says which pipeline and run to read."""
    environ = os.environ if environ is None else environ
    output_root = environ.get(OUTPUT_ROOT_ENV, os.path.join(PROJECT_ROOT, DEFAULT_OUTPUT_ROOT))
    defaults = get_config(output_root=output_root)
    pipeline_name = environ.get(PIPELINE_NAME_ENV, defaults.pipeline_name)
    paths = get_config(output_root=output_root, pipeline_name=pipeline_name)
    metadata_path = environ.get(METADATA_PATH_ENV, paths.metadata_path)
    run_id = environ.get(RUN_ID_ENV, LATEST)
    return Target(open_store(metadata_path), metadata_path, pipeline_name, run_id)


def quiet_kernel(environ: Optional[Mapping[str, str]] = None) -> str:
    """Routes the kernel's library output to a log file (``$PIPELINE_NOTEBOOK_LOG``, else one in the temp folder).

    TensorFlow's C++ lines go to file descriptor 2, which the kernel shows as a red block: it now
    points at the log. Python warnings and the ``logging`` records of TensorFlow, absl and TFMA go
    there too. A cell's own prints and errors still show. Call it before anything imports TensorFlow;
    returns the log's path.
    """
    environ = os.environ if environ is None else environ
    path = environ.get(LOG_ENV) or os.path.join(tempfile.gettempdir(), f"pipeline-notebooks-{os.getuid()}.log")
    log = open(path, "a")  # kept open for the kernel's life: fd 2 points at it
    os.dup2(log.fileno(), 2)
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)  # before TensorFlow loads, so it adds no terminal handler of its own
    logging.captureWarnings(True)
    return path
