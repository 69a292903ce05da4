"""Benchmark against TFX's own MNIST example, on the same data and machine (prints figures only).

    python -m benchmarks.peer --mnist-source ../shared/datasets/mnist-10k [pipeline flags]

Runs ``--repeats`` rounds (default 1; report with 3), each step in a fresh process so imports
count as they do for a user, every round in new output folders (cold) on the same data:
1. this project's pipeline, cold, with tuning (its default);
2. the same pipeline with the search space's default hyperparameters (``--tuning-mode off``;
   data components come from the cache, so this costs only training and evaluation);
3. ``tfx/examples/mnist/mnist_pipeline_native_keras.py`` from the installed tfx, unchanged, on
   the same images converted to the features it reads (``image_floats`` in [-0.5, 0.5],
   ``image_class``), with its own BeamDagRunner and Beam settings.
It prints the median and range of each side's wall time and accuracy, naming the split each
side's Evaluator measured: this project's test split, the example's own eval split.
"""

import os
import statistics
import subprocess
import sys
import textwrap
import time

import numpy as np

from benchmarks.common import evaluation, setup, spread, timed_run
from data import sources
from pipeline.flags import parse_args

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


def repeat(flags: list, config, output_root: str, index: int) -> dict:
    """One round: this project cold (tuned), the same store re-run untuned, then the TFX example cold."""
    root = os.path.join(output_root, f"round-{index}")
    ours_flags = [*flags, "--output-root", root, "--data-root", config.data_root]
    ours = timed_run(ours_flags).wall
    ours_metadata = parse_args(ours_flags).metadata_path
    tuned = evaluation(ours_metadata, config.pipeline_name)
    untuned_wall = timed_run([*ours_flags, "--tuning-mode", "off"]).wall
    untuned = evaluation(ours_metadata, config.pipeline_name)
    peer_root = os.path.join(root, "peer")
    peer = run_peer(peer_root, os.path.join(output_root, "peer-data"))
    peer_result = evaluation(os.path.join(peer_root, "metadata.db"), PEER_NAME)
    print(
        f"round {index}: this project {ours:.1f} s, {tuned[1]} accuracy {tuned[0]:.4f}; "
        f"TFX example {peer:.1f} s, {peer_result[1]} accuracy {peer_result[0]:.4f}",
        flush=True,
    )
    return dict(ours=ours, tuned=tuned, untuned_wall=untuned_wall, untuned=untuned, peer=peer, peer_result=peer_result)


def main(argv=None) -> int:
    """Runs both pipelines --repeats times, cold on the same data, and prints medians and ranges side by side."""
    args, flags, config, output_root = setup(argv, "benchmarks.peer", __doc__, "tfx-peer-bench-")
    write_peer_data(args.mnist_source, os.path.join(output_root, "peer-data"))
    rounds = [repeat(flags, config, output_root, index) for index in range(1, args.repeats + 1)]

    def column(key: str, item: int | None = None) -> list:
        return [r[key] if item is None else r[key][item] for r in rounds]

    ours, peer = column("ours"), column("peer")
    (_, split, count), (_, peer_split, _) = rounds[0]["tuned"], rounds[0]["peer_result"]
    print(f"\n=== peer benchmark on {args.mnist_source}, {args.repeats} cold run(s) per side, median (range) ===")
    print(
        f"this project (convnet, tuned):  wall {spread(ours)} s, accuracy {spread(column('tuned', 0), '{:.4f}')}"
        f" on its {split} split ({count} examples, never used for training or selection)"
    )
    peer_accuracy = spread(column("peer_result", 0), "{:.4f}")
    print(f"tfx/examples/mnist (Dense MLP): wall {spread(peer)} s, accuracy {peer_accuracy} on its {peer_split} split")
    ratio = statistics.median(ours) / statistics.median(peer)
    print(f"wall-time ratio (this project / TFX example), medians: {ratio:.2f}x")
    print(
        f"this project, default hyperparameters (--tuning-mode off, re-run on the cached data): "
        f"accuracy {spread(column('untuned', 0), '{:.4f}')}, wall {spread(column('untuned_wall'))} s"
    )
    print(
        f"this project, tuned hyperparameters:                                                  "
        f"accuracy {spread(column('tuned', 0), '{:.4f}')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
