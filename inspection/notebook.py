"""The notebooks' first cell: which metadata store and run to read, from the environment.

Defaults are what ``make run`` writes. ``make notebooks`` sets PIPELINE_OUTPUT_ROOT; the tests
point PIPELINE_METADATA_PATH, PIPELINE_NAME and PIPELINE_RUN_ID at their own run.
"""

import dataclasses
import os
from typing import Mapping, Optional

import ml_metadata as mlmd

from inspection.store import LATEST, open_store
from pipeline.config import DEFAULT_OUTPUT_ROOT, OUTPUT_ROOT_ENV, PROJECT_ROOT, get_config

METADATA_PATH_ENV = "PIPELINE_METADATA_PATH"
PIPELINE_NAME_ENV = "PIPELINE_NAME"
RUN_ID_ENV = "PIPELINE_RUN_ID"


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
