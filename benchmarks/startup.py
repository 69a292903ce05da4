"""Benchmark (prints figures, asserts nothing): how fast the command lines answer ``--help``.

    python -m benchmarks.startup [--runs 12] [--dropped 2]

Each command runs in a fresh process, as a user starts it; the first runs warm the file cache and
are dropped. Neither command imports TensorFlow or TFX to answer (tests/test_layout.py checks that).
"""

import statistics
import subprocess
import sys
import time

from cli.parsing import Parser

COMMANDS = {
    "local_runner.py --help": [sys.executable, "local_runner.py", "--help"],
    "cloud.submit --help": [sys.executable, "-m", "cloud.submit", "--help"],
}


def build_parser() -> Parser:
    """Every flag of ``python -m benchmarks.startup``."""
    parser = Parser("benchmarks.startup", __doc__)
    parser.add_argument("--runs", type=int, default=12, help="runs per command")
    parser.add_argument("--dropped", type=int, default=2, help="first runs left out (a cold file cache)")
    return parser


def main(argv=None) -> int:
    """Times each command and prints its median and range."""
    args = build_parser().parse_args(argv)
    for name, command in COMMANDS.items():
        seconds = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
            seconds.append(time.perf_counter() - started)
        kept = seconds[args.dropped :]
        print(f"{name}: median {statistics.median(kept):.3f} s ({min(kept):.3f}-{max(kept):.3f}) over {len(kept)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
