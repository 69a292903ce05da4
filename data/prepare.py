"""Command line: converts a source into the project's TFRecord format.

    python -m data.prepare digits OUT_DIR
    python -m data.prepare mnist OUT_DIR --source ../shared/datasets/mnist-10k [--limit N]

``--source`` takes a folder of IDX files or an http(s) base URL. The output folder is what the
pipeline's ``--data-root`` expects. Any bad input ends in one line naming the file, exit status 2
(console/errors.py).
"""

import argparse
import os
import shutil
import sys

from console.errors import UsageError, run_command
from data import format as record_format
from data import idx, sources


def prepare(source_name: str, out_dir: str, source: str = "", limit: int = 0, num_shards: int = 1) -> list:
    """Writes the examples of ``source_name`` into ``out_dir``; returns the files written.

    Writes into a temporary sibling folder first and renames it, so an interrupted or failed
    conversion never leaves a half-written dataset where the pipeline would read it.
    """
    if source_name == "digits":
        items = sources.digits()
    elif source_name == "mnist":
        if not source:
            raise idx.IdxError("mnist needs --source: a folder of IDX files or an http(s) URL")
        items = sources.mnist(source, limit=limit or None)
    else:
        raise UsageError(f"unknown source {source_name!r}: choose digits or mnist")
    out_dir = os.path.abspath(out_dir)
    staging = out_dir + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        paths = record_format.write_records(items, staging, source_name, num_shards=num_shards)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)
    return [os.path.join(out_dir, os.path.basename(p)) for p in paths]


def main(argv=None) -> int:
    """Entry point of ``python -m data.prepare``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source_name", choices=["digits", "mnist"])
    parser.add_argument("out_dir")
    parser.add_argument("--source", default="", help="mnist: folder of IDX files or http(s) base URL")
    parser.add_argument("--limit", type=int, default=0, help="keep only the first N examples (0: all)")
    parser.add_argument("--shards", type=int, default=1, help="number of output files")
    args = parser.parse_args(argv)

    def body() -> None:
        paths = prepare(args.source_name, args.out_dir, args.source, args.limit, args.shards)
        count = sum(1 for _ in record_format.read_records(os.path.join(args.out_dir, "*")))
        print(f"wrote {count} examples to {len(paths)} file(s) in {args.out_dir}")

    return run_command("data.prepare", body)


if __name__ == "__main__":
    sys.exit(main())
