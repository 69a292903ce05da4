"""Command line: converts a source into the project's TFRecord format.

    python -m data.prepare digits OUT_DIR
    python -m data.prepare mnist OUT_DIR --source ../shared/datasets/mnist-10k [--limit N]
    python -m data.prepare mnist OUT_DIR --source DIR_WITH_TRAIN_AND_T10K --test-prefix t10k

``--source`` takes a folder of IDX files or an http(s) base URL. The output folder is what the
pipeline's ``--data-root`` expects. With ``--test-prefix`` the source's own test set (MNIST's
``t10k`` files) becomes the test split: OUT_DIR gets ``train/``, ``eval/`` and ``test/`` folders
(the rest split train:eval by a hash of each key, ``--split-buckets``), for a run with
``--predefined-splits true``.

OUT_DIR must be new, empty, or an earlier output of this command (it holds ``prepared.json``),
which only ``--overwrite`` replaces: a folder of anything else is refused and left untouched.
Bad input ends in one line naming the file, exit status 2 (console/errors.py).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from typing import Iterable, NamedTuple, Sequence

from tqdm import tqdm

from console.errors import UsageError, run_command
from console.quiet import quiet_libraries
from data import idx, sources
from data.layout import EVAL, MARKER, TEST, TRAIN

SOURCES = ("digits", "mnist")


class Prepared(NamedTuple):
    """What ``prepare`` wrote: the record files and the example count of each output folder ("" when flat)."""

    paths: list
    counts: dict

    @property
    def examples(self) -> int:
        """Examples written in all."""
        return sum(self.counts.values())


def hash_split(key: str, buckets: Sequence[int]) -> str:
    """train or eval for ``key``, by a stable hash into ``buckets`` (train, eval)."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % sum(buckets)
    return TRAIN if bucket < buckets[0] else EVAL


def check_replaceable(out_dir: str, overwrite: bool) -> None:
    """Refuses an output folder holding anything but an earlier output of ``prepare`` (that one needs ``overwrite``)."""
    if not os.path.lexists(out_dir):
        return
    if not os.path.isdir(out_dir) or os.path.islink(out_dir):
        raise UsageError(f"{out_dir} exists and is not a folder; choose another output folder")
    entries = os.listdir(out_dir)
    if entries and MARKER not in entries:
        raise UsageError(
            f"{out_dir} is not empty and was not written by data.prepare (it has no {MARKER}); "
            "nothing was changed: choose a new or empty output folder"
        )
    if entries and not overwrite:
        raise UsageError(f"{out_dir} already holds a dataset written by data.prepare; pass --overwrite to replace it")


def _items(source_name: str, source: str, limit: int) -> Iterable:
    if source_name == "digits":
        return sources.digits()
    if source_name == "mnist":
        if not source:
            raise idx.IdxError("mnist needs --source: a folder of IDX files or an http(s) URL")
        return sources.mnist(source, limit=limit or None)
    raise UsageError(f"unknown source {source_name!r}: choose {' or '.join(SOURCES)}")


def _write(items: Iterable, staging: str, name: str, num_shards: int, route, total: int | None) -> Prepared:
    """Writes every item into the staging folder's subfolder ``route(item)`` ("" for the folder itself).

    On a terminal it shows a progress bar with the count, the rate and the time left.
    """
    from data import format as record_format  # TensorFlow: loaded only to write, after ``main`` quieted it

    writers = {}
    try:
        for item in tqdm(items, total=total, unit=" images", desc=name, disable=None, mininterval=1.0, leave=False):
            folder = route(item)
            if folder not in writers:
                writers[folder] = record_format.ShardWriter(os.path.join(staging, folder), name, num_shards)
            writers[folder].write(item)
    finally:
        for writer in writers.values():
            writer.close()
    return Prepared([p for w in writers.values() for p in w.paths], {f: w.count for f, w in writers.items()})


def prepare(
    source_name: str,
    out_dir: str,
    source: str = "",
    limit: int = 0,
    num_shards: int = 1,
    overwrite: bool = False,
    test_prefix: str = "",
    split_buckets: Sequence[int] = (8, 1),
) -> Prepared:
    """Writes the examples of ``source_name`` into ``out_dir``; returns what it wrote.

    Writes into a new hidden sibling folder first and renames it into place, so an interrupted
    or failed conversion never leaves a half-written dataset where the pipeline would read it.
    """
    out_dir = os.path.abspath(out_dir)
    check_replaceable(out_dir, overwrite)
    if test_prefix and source_name != "mnist":
        raise UsageError("--test-prefix names the IDX prefix of a predefined test set: only for mnist")
    if len(split_buckets) != 2 or min(split_buckets) < 1:
        raise UsageError(f"--split-buckets must be two positive counts (train, eval), got {split_buckets}")
    items = _items(source_name, source, limit)

    def route(item) -> str:
        if not test_prefix:
            return ""
        return TEST if item.key.startswith(f"mnist-{test_prefix}-") else hash_split(item.key, split_buckets)

    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out_dir)}.partial-")
    try:
        prepared = _write(items, staging, source_name, num_shards, route, sources.count(source_name, source, limit))
        if test_prefix and set(prepared.counts) != {TRAIN, EVAL, TEST}:
            raise UsageError(
                f"--test-prefix {test_prefix}: the source gives splits {sorted(prepared.counts)}, not all three"
            )
        _write_marker(staging, source_name, prepared)
        _replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # only ever our own staging folder
    return Prepared([os.path.join(out_dir, os.path.relpath(p, staging)) for p in prepared.paths], prepared.counts)


def _write_marker(folder: str, source_name: str, prepared: Prepared) -> None:
    """Writes MARKER: this folder is data.prepare's, with what it holds (so counting never re-reads the records)."""
    files = [os.path.relpath(path, folder) for path in prepared.paths]
    marker = {"written_by": "data.prepare", "source": source_name, "examples": prepared.examples, "files": files}
    with open(os.path.join(folder, MARKER), "w") as f:
        json.dump({**marker, "counts": prepared.counts}, f, indent=2)


def _replace(staging: str, out_dir: str) -> None:
    """Moves ``staging`` to ``out_dir``; an earlier output there (checked by ``check_replaceable``) is removed."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        old = tempfile.mkdtemp(dir=os.path.dirname(out_dir), prefix=f".{os.path.basename(out_dir)}.old-")
        os.replace(out_dir, old)
        os.replace(staging, out_dir)
        shutil.rmtree(old)
    else:
        os.replace(staging, out_dir)


def main(argv=None) -> int:
    """Entry point of ``python -m data.prepare``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source_name", choices=SOURCES)
    parser.add_argument("out_dir")
    parser.add_argument("--source", default="", help="mnist: folder of IDX files or http(s) base URL")
    parser.add_argument("--limit", type=int, default=0, help="keep only the first N examples (0: all)")
    parser.add_argument("--shards", type=int, default=1, help="number of output files (per split folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier output of data.prepare")
    parser.add_argument("--test-prefix", default="", help="mnist: IDX prefix of the predefined test set, e.g. t10k")
    parser.add_argument("--split-buckets", default="8,1", help="with --test-prefix: train,eval ratio of the rest")
    args = parser.parse_args(argv)

    def body() -> None:
        try:
            buckets = tuple(int(part) for part in args.split_buckets.split(","))
        except ValueError:
            raise UsageError(f"--split-buckets: expected two integers like 8,1, got {args.split_buckets!r}") from None
        prepared = prepare(args.source_name, args.out_dir, args.source, args.limit, args.shards, args.overwrite,
                           args.test_prefix, buckets)  # fmt: skip
        splits = ", ".join(f"{folder}: {count}" for folder, count in sorted(prepared.counts.items()) if folder)
        where = f" ({splits})" if splits else ""
        print(f"wrote {prepared.examples} examples to {len(prepared.paths)} file(s) in {args.out_dir}{where}")

    return run_command("data.prepare", body)


if __name__ == "__main__":
    quiet_libraries()
    sys.exit(main())
