"""scikit-learn's bundled 1,797 8x8 digits: the default, offline first run.

    make run                                        # = python local_runner.py --preset digits

Expected on the project's 2-core machine: about 28 s of pipeline time, test accuracy about 0.98
on the 170 test digits (median 0.9824 over seeds 1, 2 and 3; docs/benchmarks.md has the dated figures).
"""

import os

from pipeline.config import PROJECT_ROOT, PipelineConfig


def get_config() -> PipelineConfig:
    """The digits' shape and classes, their curated schema, and a budget for 1,437 training images."""
    return PipelineConfig(
        pipeline_name="digits-convnet",
        image_shape=(8, 8, 1),
        num_classes=10,
        schema_path=os.path.join(PROJECT_ROOT, "schema", "schema.pbtxt"),
        # 23 batches an epoch: 30 epochs give the one-cycle schedule about 700 steps, near MNIST's 875
        # (20 epochs left the training loss at 0.04-0.16 and the median test accuracy at 0.97). The
        # 162-example eval split is noisy enough that patience 4 stopped mid-schedule.
        train_epochs=30,
        tuner_epochs=3,
        early_stopping_patience=10,
    )
