"""Command line: converts a source into the project's TFRecord format, streaming (memory stays flat).

    python -m data.prepare digits OUT_DIR
    python -m data.prepare mnist OUT_DIR --source ../shared/datasets/mnist-10k [--limit N]
    python -m data.prepare mnist OUT_DIR --source DIR_WITH_TRAIN_AND_T10K --test-prefix t10k
    python -m data.prepare folder SRC OUT_DIR --image-shape 32,32,3 [--skip-bad]

``--source`` takes a folder of IDX files or an http(s) base URL. ``folder`` reads SRC's class
subfolders of images in any format Pillow reads (data/image_folders.py), converts them to
``--image-shape`` and writes the class names next to the records (classes.json). The output
folder is what the pipeline's ``--data-root`` expects; the records go into files of about 128 MB
each (``--shards N``: exactly N). With ``--test-prefix`` the source's own test set (MNIST's
``t10k`` files) becomes the test split: OUT_DIR gets ``train/``, ``eval/`` and ``test/`` folders
(the rest split train:eval by a hash of each key, ``--train-eval-ratio``), for a run with
``--predefined-splits true``.

OUT_DIR must be new, empty, or an earlier output of this command (it holds ``prepared.json``),
which only ``--overwrite`` replaces: a folder of anything else is refused and left untouched.
Bad input ends in one line naming the file, exit status 2 (cli/errors.py).
"""

import hashlib
import json
import os
import sys
from typing import Sequence

from cli.errors import interrupt_on_signals, run_command
from cli.parsing import Parser, boolean
from cli.quiet import quiet_libraries
from data import DataError, idx, image_folders, sources
from data.layout import EVAL, MARKER, TEST, TRAIN
from data.output import Prepared, remove_leftovers, write_dataset

PROG = "data.prepare"
SOURCES = ("digits", "mnist", "folder")
MAX_SHARDS = 1024  # files per split folder: far more than Beam's readers need
SKIPPED_SHOWN = 20  # skipped files named on the terminal; prepared.json lists them all


def hash_split(key: str, buckets: Sequence[int]) -> str:
    """train or eval for ``key``, by a stable hash into ``buckets`` (train, eval)."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % sum(buckets)
    return TRAIN if bucket < buckets[0] else EVAL


def prepare(
    source_name: str,
    out_dir: str,
    source: str = "",
    limit: int = 0,
    num_shards: int = 0,
    overwrite: bool = False,
    test_prefix: str = "",
    train_eval: Sequence[int] = (8, 1),
    image_shape: Sequence[int] = (),
    skip_bad: bool = False,
) -> Prepared:
    """Writes the examples of ``source_name`` into ``out_dir``; returns what it wrote (data/output.py).

    Every check that can refuse the request runs before the first byte is written, and the splits
    are checked before the output replaces anything (``write_dataset``'s ``check``).
    """
    check_request(source_name, out_dir, source, limit, num_shards, test_prefix, train_eval, image_shape)
    facts, skipped, total = {}, [], None
    if source_name == "digits":
        items = sources.digits()
    elif source_name == "mnist":
        if not source:
            raise idx.IdxError("mnist needs --source: a folder of IDX files or an http(s) URL")
        items = sources.mnist(source, limit=limit or None)
    else:  # "folder": check_request refused any other name
        names = image_folders.class_names(source)
        files = image_folders.image_files(source, names)
        facts = {"class_names": names, "image_shape": list(image_shape), "skipped": skipped}
        items, total = image_folders.images(source, files, image_shape, skip_bad, skipped), len(files)

    def route(item) -> str:
        if not test_prefix:
            return ""
        return TEST if item.key.startswith(f"mnist-{test_prefix}-") else hash_split(item.key, train_eval)

    if total is None:
        total = sources.count(source_name, source, limit)

    def check(prepared: Prepared) -> None:
        if test_prefix and set(prepared.counts) != {TRAIN, EVAL, TEST}:
            counts = ", ".join(f"{split} {prepared.counts.get(split, 0)}" for split in (TRAIN, EVAL, TEST))
            raise DataError(f"--test-prefix {test_prefix}: a split would be empty ({counts} examples); nothing written")

    options = dict(total=total, num_shards=num_shards, overwrite=overwrite, route=route, facts=facts, check=check)
    return write_dataset(items, out_dir, source_name, **options)


def check_request(
    source_name: str, out_dir: str, source: str, limit: int, num_shards: int, test_prefix: str, train_eval, image_shape
) -> None:
    """The checks that need no conversion: flags in their bounds, sources that exist, an output outside the source."""
    if source_name not in SOURCES:
        raise DataError(f"unknown source {source_name!r}: choose {', '.join(SOURCES)}")
    if limit < 0 or not 0 <= num_shards <= MAX_SHARDS:
        raise DataError(
            f"--limit must be 0 or more and --shards lie in [0, {MAX_SHARDS}], got {limit} and {num_shards}"
        )
    if test_prefix and source_name != "mnist":
        raise DataError("--test-prefix names the IDX prefix of a predefined test set: only for mnist")
    if len(train_eval) != 2 or min(train_eval) < 1:
        raise DataError(f"--train-eval-ratio must be two positive counts (train, eval), got {train_eval}")
    if source_name == "mnist" and test_prefix and os.path.isdir(source):
        prefixes = [prefix for prefix, _, _ in idx.find_pairs(source)]
        if test_prefix not in prefixes:
            raise DataError(f"--test-prefix {test_prefix}: {source} holds IDX prefixes {prefixes}, not {test_prefix}")
    if source_name == "folder":
        image_folders.check_shape(image_shape)
        inside = os.path.commonpath([os.path.abspath(source), os.path.abspath(out_dir)]) == os.path.abspath(source)
        if inside:
            raise DataError(f"{out_dir} is inside the source folder {source}: it would become a class; choose another")


def _numbers(text: str, flag: str, count: int) -> tuple:
    """``count`` comma-separated integers given to ``flag``."""
    try:
        numbers = tuple(int(part) for part in text.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != count:
        raise DataError(f"{flag}: expected {count} comma-separated integers, got {text!r}")
    return numbers


def build_parser() -> Parser:
    """Every flag of ``python -m data.prepare``."""
    parser = Parser(PROG, __doc__)
    parser.add_argument(
        "source_name", choices=SOURCES, help="what to convert: the bundled digits, MNIST IDX files, an image folder"
    )
    parser.add_argument("paths", nargs="+", metavar="[SRC] OUT_DIR", help="folder: SRC then OUT_DIR; others: OUT_DIR")
    parser.add_argument("--source", default="", help="mnist: folder of IDX files or http(s) base URL")
    parser.add_argument("--limit", type=int, default=0, help="keep only the first N examples (0: all)")
    parser.add_argument("--shards", type=int, default=0, help="files per split folder (0: one per 128 MB)")
    boolean(parser, "--overwrite", default=False, help="replace an earlier output of data.prepare (its own files only)")
    parser.add_argument("--test-prefix", default="", help="mnist: IDX prefix of the predefined test set, e.g. t10k")
    parser.add_argument(
        "--train-eval-ratio", default="8,1", help="with --test-prefix: how the rest splits into train and eval"
    )
    parser.add_argument("--image-shape", default="", help="folder: HEIGHT,WIDTH,CHANNELS (channels 1, 3 or 4)")
    boolean(parser, "--skip-bad", default=False, help="folder: leave unreadable images out, and list them")
    return parser


def main(argv=None) -> int:
    """Entry point of ``python -m data.prepare``."""
    args = build_parser().parse_args(argv)

    def body() -> None:
        source, out_dir = _paths(args)
        for leftover in remove_leftovers(out_dir):
            print(f"removed {leftover}, left by an interrupted conversion")
        shape = _numbers(args.image_shape, "--image-shape", 3) if args.source_name == "folder" else ()
        prepared = prepare(
            args.source_name,
            out_dir,
            source,
            args.limit,
            args.shards,
            args.overwrite,
            args.test_prefix,
            _numbers(args.train_eval_ratio, "--train-eval-ratio", 2),
            shape,
            args.skip_bad,
        )
        splits = ", ".join(f"{folder}: {count}" for folder, count in sorted(prepared.counts.items()) if folder)
        where = f" ({splits})" if splits else ""
        print(f"wrote {prepared.examples} examples to {len(prepared.paths)} file(s) in {out_dir}{where}")
        if prepared.kept:
            print(f"kept {len(prepared.kept)} file(s) data.prepare did not write: {', '.join(prepared.kept)}")
        _report_skipped(out_dir)

    interrupt_on_signals()  # a kill ends the conversion as Ctrl-C does: staging removed, one line, exit 130
    return run_command(PROG, body, usage=(DataError,))


def _paths(args) -> tuple:
    """(source, output folder) from the positional paths: ``folder`` takes SRC OUT_DIR, the others OUT_DIR."""
    expected = 2 if args.source_name == "folder" else 1
    if len(args.paths) != expected:
        raise DataError(f"{args.source_name} takes {'SRC OUT_DIR' if expected == 2 else 'OUT_DIR'}, got {args.paths}")
    return (args.paths[0], args.paths[1]) if expected == 2 else (args.source, args.paths[0])


def _report_skipped(out_dir: str) -> None:
    """Counts and names the images ``--skip-bad`` left out (prepared.json lists them all)."""
    with open(os.path.join(out_dir, MARKER)) as f:
        skipped = json.load(f).get("skipped", [])
    if skipped:
        print(f"skipped {len(skipped)} unreadable image(s), listed in {os.path.join(out_dir, MARKER)}:")
        for path, reason in skipped[:SKIPPED_SHOWN]:
            print(f"  {path}: {reason}")


if __name__ == "__main__":
    quiet_libraries()
    sys.exit(main())
