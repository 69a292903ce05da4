"""``create_pipeline``: the one DAG every runner (local, Vertex, Kubeflow) executes.

It knows no orchestrator: runners hand it a ``PipelineConfig``, a metadata connection and, off
this machine, the platform's ``ComponentFactory`` (pipeline/factory.py, cloud/vertex.py).
Each stage has its own small builder so the DAG reads top to bottom.
"""

import os
from typing import NamedTuple

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from data.layout import DATA_FINGERPRINT, EVAL, SPLITS, TEST, TRAIN, input_patterns
from models import features
from models.settings import TrainingSettings, TransformSettings, TuningSettings, select
from pipeline import baseline, facts
from pipeline.config import PipelineConfig
from pipeline.example_gen import ImportExampleGen
from pipeline.factory import ComponentFactory
from pipeline.fingerprint import code_version
from pipeline.gate import AnomaliesGate, label_stats_options
from pipeline.metrics import MetricsPublisher

# The module code each component runs, by import path (its fingerprint goes into its settings).
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
TUNER_FN = "models.tuning.tuner_fn"
RUN_FN = "models.training.run_fn"
HYPERPARAMETERS_RESOLVER = "latest_hyperparameters_resolver"
# Nodes every runner runs afresh each time, whatever their inputs: the baseline must be what is served now.
NEVER_CACHED = (baseline.FINDER_ID,)
LOCAL = ComponentFactory()


class DataStage(NamedTuple):
    example_gen: ImportExampleGen
    statistics_gen: tfx.components.StatisticsGen
    schema_gen: object  # ImportSchemaGen or SchemaGen
    example_validator: tfx.components.ExampleValidator
    gate: object


class TrainingStage(NamedTuple):
    transform: tfx.components.Transform
    tuner: object  # the Tuner, the resolver of earlier best hyperparameters, or None
    trainer: tfx.components.Trainer


class EvaluationStage(NamedTuple):
    finder: object  # BaselineFinder: the model served now, copied for the Evaluator
    evaluator: tfx.components.Evaluator
    pusher: tfx.components.Pusher
    metrics: object  # MetricsPublisher: the verdict as system.Metrics for the KFP UI and Vertex AI


def module_of(function_path: str) -> str:
    """The module of a function named by import path, e.g. ``models.training`` for ``models.training.run_fn``."""
    return function_path.rsplit(".", 1)[0]


def transform_settings(config: PipelineConfig) -> TransformSettings:
    """Transform's ``custom_config``: the image shape, and nothing it does not read."""
    return select(TransformSettings, config, code_version=code_version(module_of(PREPROCESSING_FN)))


def tuning_settings(config: PipelineConfig) -> TuningSettings:
    """The Tuner's ``custom_config``: the search and its budget."""
    return select(
        TuningSettings,
        config,
        code_version=code_version(module_of(TUNER_FN)),
        search_space=facts.search_space(config),
        tensorboard_dir=os.path.join(config.pipeline_root, "Tuner", "tensorboard"),
    )


def training_settings(config: PipelineConfig) -> TrainingSettings:
    """The Trainer's ``custom_config``: the training budget and the backup folder."""
    return select(
        TrainingSettings,
        config,
        code_version=code_version(module_of(RUN_FN)),
        fixed_hyperparameters=facts.fixed_hyperparameters(config),
        require_hyperparameters=config.tuning_mode == "reuse",
        checkpoint_dir=os.path.join(config.pipeline_root, "Trainer", "backup"),
    )


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Overall accuracy must clear the lower bound and not regress against the served model; every class must score.

    Per class (a slice by label), accuracy must be above 0: a model that answers one class for
    everything gets 0 on every other class, so it is never blessed, however the test split is balanced.
    """
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.accuracy_lower_bound}),
        # A tiny slack absorbs float noise when the candidate equals the baseline.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.regression_tolerance - 1e-10},
        ),
    )
    # The gate is overall accuracy: a plain `threshold` would apply to every per-class slice
    # too, so one class a hair worse would block an otherwise better model.
    every_class = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 1e-9}))
    accuracy = tfma.MetricConfig(
        class_name="SparseCategoricalAccuracy",
        per_slice_thresholds=[
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold),
            tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec(feature_keys=[features.LABEL])], threshold=every_class
            ),
        ],
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=features.EXAMPLES_SIGNATURE,
                label_key=features.LABEL,
                prediction_key=features.PROBABILITIES,
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LABEL])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    accuracy,
                    # Published as the run's confusion matrix (pipeline/metrics.py).
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )


def example_gen_configs(config: PipelineConfig) -> tuple:
    """ImportExampleGen's (input_config, output_config): a hash split on the key, or the data's own split folders."""
    patterns = input_patterns(config.predefined_splits)
    input_config = tfx.proto.Input(splits=[tfx.proto.Input.Split(name=n, pattern=p) for n, p in patterns.items()])
    if config.predefined_splits:
        return input_config, tfx.proto.Output()  # TFX keeps the input splits when no output split is given
    buckets = dict(zip(SPLITS, config.split_buckets, strict=True))
    split_config = tfx.proto.SplitConfig(
        splits=[tfx.proto.SplitConfig.Split(name=s, hash_buckets=n) for s, n in buckets.items()],
        partition_feature_name=features.KEY,
    )
    return input_config, tfx.proto.Output(split_config=split_config)


def data_stage(config: PipelineConfig, factory: ComponentFactory = LOCAL) -> DataStage:
    """Ingest into train / eval / test (a reproducible hash split on the key), describe, validate and gate."""
    input_config, output_config = example_gen_configs(config)
    example_gen = ImportExampleGen(
        input_base=factory.parameter("data_root", config.data_root),
        input_config=input_config,
        output_config=output_config,
        data_fingerprint=factory.parameter(DATA_FINGERPRINT, ""),
    )
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"], stats_options=label_stats_options()
    )
    if config.use_schema_gen:
        # Inferred from every split, test included (docs/data.md): the schema holds types, presence and
        # shapes, which the model never sees. From train alone, TFDV learns the train keys as a string
        # domain and refuses every eval and test example.
        schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    else:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=config.schema_path)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    gate = AnomaliesGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        num_classes=config.num_classes,
    )
    return DataStage(example_gen, statistics_gen, schema_gen, example_validator, gate)


def training_stage(config: PipelineConfig, data: DataStage, factory: ComponentFactory = LOCAL) -> TrainingStage:
    """Transform, then tune (or reuse earlier best hyperparameters), then train with the best ones.

    The test split never reaches them: Transform writes only train and eval, so Tuner and
    Trainer cannot read the examples the Evaluator blesses on.
    """
    transform = tfx.components.Transform(
        examples=data.example_gen.outputs["examples"],
        schema=data.schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(analyze=[TRAIN], transform=[TRAIN, EVAL]),
        custom_config=transform_settings(config).to_custom_config(),
        disable_statistics=True,  # StatisticsGen has the raw splits'; nothing reads the transformed ones' (BUILD_NOTES)
    )
    transform.add_upstream_node(data.gate)  # no data-flow edge: the gate only has to pass first
    training_inputs = dict(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=data.schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=[TRAIN]),
        eval_args=tfx.proto.EvalArgs(splits=[EVAL]),
    )
    tuner = hyperparameters = None
    if config.tuning_mode == "tune":
        custom_config = tuning_settings(config).to_custom_config()
        tuner = factory.tuner(tuner_fn=TUNER_FN, custom_config=custom_config, **training_inputs)
        hyperparameters = tuner.outputs["best_hyperparameters"]
    elif config.tuning_mode == "reuse":
        # Like querying AI Platform's best trial: the newest HyperParameters in the store.
        tuner = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
            hyperparameters=tfx.dsl.Channel(type=tfx.types.standard_artifacts.HyperParameters),
        ).with_id(HYPERPARAMETERS_RESOLVER)
        hyperparameters = tuner.outputs["hyperparameters"]
    custom_config = training_settings(config).to_custom_config()
    trainer = factory.trainer(
        run_fn=RUN_FN, hyperparameters=hyperparameters, custom_config=custom_config, **training_inputs
    )
    return TrainingStage(transform, tuner, trainer)


def evaluation_stage(
    config: PipelineConfig, data: DataStage, training: TrainingStage, factory: ComponentFactory = LOCAL
) -> EvaluationStage:
    """Evaluate on the test split against the model served now, push only a blessed one, publish the verdict."""
    finder = baseline.BaselineFinder(serving_dir=config.serving_dir).with_id(baseline.FINDER_ID)
    evaluator = tfx.components.Evaluator(
        examples=data.example_gen.outputs["examples"],
        model=training.trainer.outputs["model"],
        baseline_model=finder.outputs["baseline"],
        eval_config=eval_config(config),
        example_splits=[TEST],
    )
    evaluator.executor_spec = executor_spec.BeamExecutorSpec(baseline.BaselineEvaluator)
    pusher = factory.pusher(training.trainer.outputs["model"], evaluator.outputs["blessing"], config.serving_dir)
    metrics = MetricsPublisher(evaluation=evaluator.outputs["evaluation"], blessing=evaluator.outputs["blessing"])
    return EvaluationStage(finder, evaluator, pusher, metrics)


def create_pipeline(
    config: PipelineConfig, metadata_connection_config=None, factory: ComponentFactory = LOCAL
) -> tfx.dsl.Pipeline:
    """Builds the full DAG for ``config``; the runner supplies the metadata connection.

    ``factory`` picks the platform's Tuner, Trainer and Pusher classes and runtime parameters
    (``cloud.vertex.CloudComponents`` on Vertex AI); the default runs everything in-process.
    """
    data = data_stage(config, factory)
    training = training_stage(config, data, factory)
    evaluation = evaluation_stage(config, data, training, factory)
    components = [c for stage in (data, training, evaluation) for c in stage if c is not None]
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_args),
    )
