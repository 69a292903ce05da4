"""What the pipeline benchmarks share: flags, a fresh output root, MNIST prepared once, timed runs."""

import argparse
import subprocess
import sys
import tempfile
import time

from data import prepare
from pipeline import flags


def timed_run(pipeline_args: list) -> float:
    """Runs the local pipeline in a new process; returns its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "local_runner", *pipeline_args], check=True)
    return time.perf_counter() - start


def setup(argv, description: str, prefix: str) -> tuple:
    """Parses a benchmark's flags and prepares MNIST: returns (args, pipeline flags, config, output root).

    Flags the benchmark does not know are the pipeline's; the output root is a new temporary
    folder named ``prefix...`` unless --output-root is given.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist-source", required=True, help="folder of MNIST IDX files")
    parser.add_argument("--output-root", default="", help="default: a new temporary folder")
    args, pipeline_flags = parser.parse_known_args(argv)
    output_root = args.output_root or tempfile.mkdtemp(prefix=prefix)
    pipeline_args = ["--dataset", "mnist", "--output-root", output_root, *pipeline_flags]
    config = flags.parse_args(pipeline_args)
    prepare.prepare("mnist", config.data_root, source=args.mnist_source)
    return args, pipeline_args, config, output_root
