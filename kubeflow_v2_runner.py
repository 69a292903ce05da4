"""Compiles the pipeline into a KFP v2 pipeline job for Vertex AI Pipelines or Kubeflow Pipelines 2.

    python kubeflow_v2_runner.py --cloud-config cloud.yaml [--output outputs/compiled/pipeline.json]
    PIPELINE_CLOUD_CONFIG=cloud.yaml tfx pipeline compile --engine vertex --pipeline_path kubeflow_v2_runner.py

``python kubeflow_v2_runner.py --help`` explains every flag; the compiler itself is ``cloud/compiler.py``.
"""

import sys

from cloud.compiler import main

if __name__ == "__main__":
    from cli.quiet import quiet_libraries

    quiet_libraries()  # TFX's imports warn about this Python and CUDA: not the compile's output
    sys.exit(main())
