"""TFX's ImportExampleGen with one more exec property, ``data_fingerprint``: what the data was when the run was sent.

Kubeflow Pipelines 2 never runs a step's ``lifecycle.preCacheCheck``, the driver that fingerprints
ImportExampleGen's input files locally and on Vertex AI, so new files under the same ``data_root``
would be served from the cache there. ``cloud.submit`` fingerprints ``data_root``'s files
(``cloud/data_version.py``) and passes the digest as the runtime parameter ``data_fingerprint``;
as an exec property it enters the step's cache key, which covers every parameter value. A local run
leaves it empty: TFX's driver fingerprints the files there.
"""

from tfx import types
from tfx.components.example_gen.import_example_gen import component as import_example_gen
from tfx.dsl.components.base import base_beam_component
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from data.layout import DATA_FINGERPRINT


class ExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen's spec and the data fingerprint."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        DATA_FINGERPRINT: ExecutionParameter(type=str, optional=True),
    }


class ImportExampleGen(import_example_gen.ImportExampleGen):
    """TFX's ImportExampleGen (its executor, driver and node id), whose cache key also holds ``data_fingerprint``."""

    SPEC_CLASS = ExampleGenSpec

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
