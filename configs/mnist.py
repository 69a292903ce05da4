"""MNIST-10k (the 10,000 official test images, split 8:1:1 by key): the benchmark data.

    python -m data.prepare mnist outputs/data/mnist --source ../shared/datasets/mnist-10k
    python local_runner.py --preset mnist           # make bench runs it cold and cached

Expected on the project's 2-core machine: about 41 s cold, test accuracy 0.99 on 989 test images
(docs/benchmarks.md has the dated figures).
"""

import os

from pipeline.config import PROJECT_ROOT, PipelineConfig


def get_config() -> PipelineConfig:
    """MNIST's shape and classes, its curated schema, and seven epochs: 125 batches each."""
    return PipelineConfig(
        pipeline_name="mnist-convnet",
        image_shape=(28, 28, 1),
        num_classes=10,
        schema_path=os.path.join(PROJECT_ROOT, "schema", "mnist", "schema.pbtxt"),
        train_epochs=7,
        tuner_epochs=1,
    )
