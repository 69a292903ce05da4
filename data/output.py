"""Writing a prepared dataset safely: streaming into a staging folder, the marker, replacing only our own output.

The records are written into a new hidden sibling folder and renamed into place, so an
interrupted or failed conversion never leaves a half-written dataset where the pipeline would
read it. A folder holding anything but an earlier output (it has MARKER) is refused and left as
it is; replacing an earlier output takes ``overwrite``.
"""

import json
import os
import shutil
import tempfile
from typing import Callable, Iterable, NamedTuple, Optional

from tqdm import tqdm

from data import DataError
from data.layout import CLASSES_FILE, MARKER


class Prepared(NamedTuple):
    """What was written: the record files and the example count of each output folder ("" when flat)."""

    paths: list
    counts: dict

    @property
    def examples(self) -> int:
        """Examples written in all."""
        return sum(self.counts.values())


def check_replaceable(out_dir: str, overwrite: bool) -> None:
    """Refuses an output folder holding anything but an earlier output of ``prepare`` (that one needs ``overwrite``)."""
    if not os.path.lexists(out_dir):
        return
    if not os.path.isdir(out_dir) or os.path.islink(out_dir):
        raise DataError(f"{out_dir} exists and is not a folder; choose another output folder")
    entries = os.listdir(out_dir)
    if entries and MARKER not in entries:
        raise DataError(
            f"{out_dir} is not empty and was not written by data.prepare (it has no {MARKER}); "
            "nothing was changed: choose a new or empty output folder"
        )
    if entries and not overwrite:
        raise DataError(f"{out_dir} already holds a dataset written by data.prepare; pass --overwrite to replace it")


def _write(items: Iterable, staging: str, name: str, num_shards: int, route, total: Optional[int]) -> Prepared:
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


def write_dataset(
    items: Iterable,
    out_dir: str,
    name: str,
    *,
    total: Optional[int] = None,
    num_shards: int = 0,
    overwrite: bool = False,
    route: Callable = lambda item: "",
    facts: Optional[dict] = None,
) -> Prepared:
    """Streams ``items`` into ``out_dir`` (subfolders by ``route``), with MARKER holding the counts and ``facts``.

    ``facts`` may carry ``class_names``, also written as CLASSES_FILE for the pipeline to read.
    """
    out_dir = os.path.abspath(out_dir)
    check_replaceable(out_dir, overwrite)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out_dir)}.partial-")
    try:
        prepared = _write(items, staging, name, num_shards, route, total)
        facts = dict(facts or {})
        if "class_names" in facts:
            with open(os.path.join(staging, CLASSES_FILE), "w") as f:
                json.dump(facts["class_names"], f, indent=2)
        files = [os.path.relpath(path, staging) for path in prepared.paths]
        marker = {"written_by": "data.prepare", "source": name, "examples": prepared.examples, "files": files}
        with open(os.path.join(staging, MARKER), "w") as f:
            json.dump({**marker, "counts": prepared.counts, **facts}, f, indent=2)
        _replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # only ever our own staging folder
    return Prepared([os.path.join(out_dir, os.path.relpath(p, staging)) for p in prepared.paths], prepared.counts)


def _replace(staging: str, out_dir: str) -> None:
    """Moves ``staging`` to ``out_dir``; an earlier output there (checked by ``check_replaceable``) is removed."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        old = tempfile.mkdtemp(dir=os.path.dirname(out_dir), prefix=f".{os.path.basename(out_dir)}.old-")
        os.replace(out_dir, old)
        os.replace(staging, out_dir)
        shutil.rmtree(old)
    else:
        os.replace(staging, out_dir)
