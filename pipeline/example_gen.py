"""TFX's ImportExampleGen with one more exec property, ``data_fingerprint``, and an executor that writes each split
as it reads it, without TFX's ``Reshuffle``.

Kubeflow Pipelines 2 never runs a step's ``lifecycle.preCacheCheck``, the driver that fingerprints
ImportExampleGen's input files locally and on Vertex AI, so new files under the same ``data_root``
would be served from the cache there. ``cloud.submit`` fingerprints ``data_root``'s files
(``cloud/data_version.py``) and passes the digest as the runtime parameter ``data_fingerprint``;
as an exec property it enters the step's cache key, which covers every parameter value. A local run
leaves it empty: TFX's driver fingerprints the files there.

TFX's ``write_split.WriteSplit`` runs ``beam.Reshuffle()`` on every split before writing it. On
the in-process DirectRunner a shuffle holds its whole input in memory (no spill to disk): 3.3 GiB
at a million MNIST examples (BUILD_NOTES.md, "Memory at a million examples"). The shuffle buys
nothing here: the split is a hash of each example's key, every reader of the examples shuffles
or orders them itself (``models/inputs.py``), and ``data.prepare`` writes records in no class
order. Without it, reading, splitting and writing fuse into one Beam stage that streams.
"""

import os

import apache_beam as beam
from tfx import types
from tfx.components.example_gen import write_split
from tfx.components.example_gen.import_example_gen import component as import_example_gen
from tfx.components.example_gen.import_example_gen import executor as import_example_gen_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from data.layout import DATA_FINGERPRINT


class ExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen's spec and the data fingerprint."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        DATA_FINGERPRINT: ExecutionParameter(type=str, optional=True),
    }


class Executor(import_example_gen_executor.Executor):
    """ImportExampleGen's executor (its reading, hash split and output format) without the shuffle before writing."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """TFX's ``Do``, with the output artifact kept for ``GenerateExamplesByBeam``, which writes the splits."""
        self._examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        super().Do(input_dict, output_dict, exec_properties)

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties) -> dict:
        """Adds each split's writing, in the order read, to ``pipeline``; returns no split for TFX's ``Do`` to write.

        The files are TFX's: ``data_tfrecord-*.gz`` under each split's URI, the records serialized
        by TFX's own ``MaybeSerialize``.
        """
        splits = super().GenerateExamplesByBeam(pipeline, exec_properties)
        for name, records in splits.items():
            prefix = os.path.join(
                artifact_utils.get_split_uri(self._examples, name), write_split.DEFAULT_TF_RECORD_FILE_NAME
            )
            _ = (
                records
                | f"Serialize[{name}]" >> beam.ParDo(write_split.MaybeSerialize())
                | f"Write[{name}]" >> beam.io.WriteToTFRecord(prefix, file_name_suffix=".gz")
            )
        return {}


class ImportExampleGen(import_example_gen.ImportExampleGen):
    """TFX's ImportExampleGen (driver, node id) with ``Executor``; its cache key also holds ``data_fingerprint``."""

    SPEC_CLASS = ExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        input_base,
        input_config: example_gen_pb2.Input,
        output_config: example_gen_pb2.Output,
        data_fingerprint="",
    ):
        spec = ExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            data_fingerprint=data_fingerprint,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen's own __init__ builds the stock spec; the component machinery is the same.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
