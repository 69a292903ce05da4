"""Writes a curated-ready schema from the latest SchemaGen run of a pipeline.

For a new dataset: run the pipeline once with ``--use-schema-gen --image-shape H,W,C
--num-classes N``, then

    python -m inspection.schema --out schema/<name>/schema.pbtxt [the same pipeline flags]

It takes SchemaGen's inferred schema from the metadata store and pins what the pipeline needs
from a curated schema (the int domains of height, width, channels and label, from the
config), so the result can be checked in and imported with ``--schema-path``. Exit status: 0
written, 1 no SchemaGen output in the store, 2 a bad flag (cli/errors.py).
"""

import os
import sys

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from cli.errors import run_command
from cli.parsing import Parser
from inspection import history
from inspection.store import MetadataError, open_store
from models import features
from pipeline import config as config_lib
from pipeline import facts, flags

PROG = "inspection.schema"
SCHEMA_FILE = "schema.pbtxt"


def curate(schema: schema_pb2.Schema, config: config_lib.PipelineConfig) -> schema_pb2.Schema:
    """Pins the shape features to the config's image shape and the label to its classes."""
    domains = dict(zip(features.SHAPE_KEYS, config.image_shape, strict=True))
    domains = {name: (size, size) for name, size in domains.items()}
    domains[features.LABEL] = (0, config.num_classes - 1)
    for feature in schema.feature:
        if feature.name in domains:
            feature.int_domain.min, feature.int_domain.max = domains.pop(feature.name)
            feature.presence.min_fraction = 1.0
    if domains:
        raise config_lib.ConfigError(f"the inferred schema lacks feature(s) {', '.join(sorted(domains))}")
    return schema


def latest_inferred_schema(config: config_lib.PipelineConfig) -> schema_pb2.Schema:
    """SchemaGen's output in the pipeline's most recent run that executed SchemaGen."""
    store = open_store(config.metadata_path)
    for run in reversed(history.runs(store, config.pipeline_name)):
        for artifact in history.run_artifacts(store, config.pipeline_name, run.run_id):
            # ImportSchemaGen's output is a Schema too: only SchemaGen's is inferred.
            if artifact.type_name == "Schema" and artifact.node == "SchemaGen":
                with open(os.path.join(artifact.uri, SCHEMA_FILE)) as f:
                    return text_format.Parse(f.read(), schema_pb2.Schema())
    raise MetadataError(f"no SchemaGen output in pipeline {config.pipeline_name!r}: run it with --use-schema-gen")


def build_parser() -> Parser:
    """``--out`` and the pipeline's flags, which find the store and say the shape and classes."""
    parser = Parser(PROG, __doc__)
    parser.add_argument("--out", required=True, help="where to write the schema, e.g. schema/faces/schema.pbtxt")
    flags.add_flags(parser)
    return parser


def main(argv=None) -> int:
    """Entry point of ``python -m inspection.schema``."""
    values = vars(build_parser().parse_args(argv))
    out = values.pop("out")

    def body() -> None:
        config = facts.complete(flags.from_flags(values))
        schema = curate(latest_inferred_schema(config), config)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(text_format.MessageToString(schema))
        print(f"wrote {out}; review it, commit it, and run with --schema-path {out}")

    return run_command(PROG, body, usage=(config_lib.ConfigError,), failed=(MetadataError,))


if __name__ == "__main__":
    sys.exit(main())
