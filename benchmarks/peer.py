"""Benchmark against TFX's own MNIST example, on the same data and machine (prints figures only).

    python -m benchmarks.peer --mnist-source ../shared/datasets/mnist-10k [pipeline flags]

Runs, each in a fresh process so imports count as they do for a user:
1. this project's pipeline, cold, with tuning (its default);
2. the same pipeline with the search space's default hyperparameters (``--tuning-mode off``;
   data components come from the cache, so this costs only training and evaluation);
3. ``tfx/examples/mnist/mnist_pipeline_native_keras.py`` from the installed tfx, unchanged, on
   the same images converted to the features it reads (``image_floats`` in [-0.5, 0.5],
   ``image_class``), with its own BeamDagRunner and Beam settings.
"""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np

from benchmarks.common import setup, timed_run
from data import sources
from inspection import history, results
from inspection.store import open_store
from models.features import ACCURACY

PEER_NAME = "mnist_native_keras"
PEER_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from tfx.examples.mnist import mnist_pipeline_native_keras as peer
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    root, data_root = sys.argv[1], sys.argv[2]
    BeamDagRunner().run(peer._create_pipeline(
        pipeline_name=peer._pipeline_name,
        pipeline_root=os.path.join(root, "pipelines", peer._pipeline_name),
        data_root=data_root,
        module_file=os.path.join(os.path.dirname(peer.__file__), "mnist_utils_native_keras.py"),
        serving_model_dir=os.path.join(root, "serving", peer._pipeline_name),
        metadata_path=os.path.join(root, "metadata.db"),
        beam_pipeline_args=peer._beam_pipeline_args))
    """
)


def write_peer_data(mnist_source: str, folder: str) -> None:
    """Writes MNIST as the TFX example expects it: 784 floats in [-0.5, 0.5] and an int64 class."""
    import tensorflow as tf

    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "mnist.tfrecord")) as writer:
        for item in sources.mnist(mnist_source):
            floats = (item.image.astype(np.float32) / 255.0 - 0.5).reshape(-1)
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "image_floats": tf.train.Feature(float_list=tf.train.FloatList(value=floats)),
                        "image_class": tf.train.Feature(int64_list=tf.train.Int64List(value=[item.label])),
                    }
                )
            )
            writer.write(example.SerializeToString())


def run_peer(root: str, data_root: str) -> float:
    """Runs TFX's MNIST example pipeline in a fresh process; returns its wall time in seconds."""
    # The example uses tf.keras as Keras 2 (tensorflow_transform's default), so it gets a clean env.
    env = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PEER_SCRIPT, root, data_root], check=True, env=env)
    return time.perf_counter() - start


def accuracy(metadata_path: str, pipeline_name: str) -> tuple:
    """(eval accuracy, eval example count as text) of the pipeline's latest run, from its Evaluator in MLMD."""
    store = open_store(metadata_path)
    overall = results.evaluation_metrics(store, history.latest_run(store, pipeline_name).run_id)["overall"]
    count = overall.get(results.EXAMPLE_COUNT)  # the TFX example's EvalConfig does not count examples
    return overall[ACCURACY], "n/a" if count is None else str(int(count))


def main(argv=None) -> int:
    """Runs both pipelines and prints wall time and accuracy side by side."""
    args, flags, config, output_root = setup(argv, __doc__, "tfx-peer-bench-")
    peer_root = os.path.join(output_root, "peer")
    write_peer_data(args.mnist_source, os.path.join(peer_root, "data"))

    ours = timed_run(flags)
    tuned, ours_examples = accuracy(config.metadata_path, config.pipeline_name)
    untuned_time = timed_run([*flags, "--tuning-mode", "off"])
    untuned, _ = accuracy(config.metadata_path, config.pipeline_name)
    peer = run_peer(peer_root, os.path.join(peer_root, "data"))
    peer_accuracy, peer_examples = accuracy(os.path.join(peer_root, "metadata.db"), PEER_NAME)

    print(f"\n=== peer benchmark on {args.mnist_source} (output {output_root}) ===")
    print(f"{'pipeline':44s}{'wall s':>8s}{'accuracy':>10s}{'eval n':>8s}")
    print(f"{'this project (convnet, tuned), cold':44s}{ours:8.1f}{tuned:10.4f}{ours_examples:>8s}")
    print(f"{'tfx/examples/mnist (Dense MLP), cold':44s}{peer:8.1f}{peer_accuracy:10.4f}{peer_examples:>8s}")
    print(f"wall-time ratio (this project / TFX example): {ours / peer:.2f}x")
    print(f"this project, default hyperparameters: accuracy {untuned:.4f} (rerun wall {untuned_time:.1f} s)")
    print(f"this project, after tuning:            accuracy {tuned:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
