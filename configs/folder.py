"""A folder of images in class subfolders, converted by ``data.prepare folder``: your own data.

    python -m data.prepare folder ~/photos/flowers outputs/data/flowers --image-shape 64,64,3
    python local_runner.py --data-root outputs/data/flowers --pipeline-name flowers

The image shape and the classes come from what ``data.prepare`` wrote next to the records
(``prepared.json``, ``classes.json``), and the schema is inferred by SchemaGen. The run picks this
preset by itself for such a folder. Expected: the tests' 40-image PNG/JPEG folder runs in about a
minute on the project's 2-core machine; accuracy depends on the data.
"""

from pipeline.config import PipelineConfig


def get_config() -> PipelineConfig:
    """SchemaGen's schema and a budget between the digits' and MNIST's, for a few thousand images."""
    return PipelineConfig(
        pipeline_name="folder-convnet",
        use_schema_gen=True,
        train_epochs=10,
        tuner_epochs=2,
        early_stopping_patience=6,
    )
