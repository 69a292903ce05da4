"""Writing a prepared dataset safely: a staging folder, checks before the swap, and only our own files replaced.

The records are written into a new hidden sibling folder (``.OUT.partial-*``), checked, and moved
into place file by file, the marker last, so an interrupted or refused conversion leaves the output
folder as it was. A folder holding anything but an earlier output (it has MARKER) is refused and
left as it is; replacing an earlier output takes ``overwrite`` and replaces only the files the
earlier marker lists: files a user added stay, and are reported. A staging folder holds its
writer's pid; one whose writer is gone (a conversion killed outright) is removed by the next run.
"""

import json
import os
import shutil
import signal
import tempfile
from typing import Callable, Iterable, List, NamedTuple, Optional

from tqdm import tqdm

from data import DataError
from data.layout import CLASSES_FILE, MARKER

OWNER = ".owner"  # in a staging folder: the pid of the process writing it
LEFTOVERS = (".partial-", ".old-")  # the hidden siblings a conversion makes: staging, and what it replaced


class Prepared(NamedTuple):
    """What was written: the record files, the example count of each output folder ("" when flat), files kept."""

    paths: list
    counts: dict
    kept: list = []

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


def remove_leftovers(out_dir: str) -> List[str]:
    """Removes the staging folders of ``out_dir`` whose writer is no longer running; returns their paths."""
    parent, base = os.path.split(os.path.abspath(out_dir))
    if not os.path.isdir(parent):
        return []
    removed = []
    for name in sorted(os.listdir(parent)):
        path = os.path.join(parent, name)
        if name.startswith(f".{base}") and any(mark in name for mark in LEFTOVERS) and not _writer_alive(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _writer_alive(folder: str) -> bool:
    try:
        with open(os.path.join(folder, OWNER)) as f:
            pid = int(f.read())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


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
    check: Callable[[Prepared], None] = lambda prepared: None,
) -> Prepared:
    """Streams ``items`` into ``out_dir`` (subfolders by ``route``), with MARKER holding the counts and ``facts``.

    ``check`` sees what was written before anything moves into ``out_dir``, and may refuse it.
    ``facts`` may carry ``class_names``, also written as CLASSES_FILE for the pipeline to read.
    """
    out_dir = os.path.abspath(out_dir)
    check_replaceable(out_dir, overwrite)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    # Ctrl-C or SIGTERM is held while the staging folder is made, and let in once removing it is assured.
    staging, held = "", signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out_dir)}.partial-")
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        with open(os.path.join(staging, OWNER), "w") as f:
            f.write(str(os.getpid()))
        prepared = _write(items, staging, name, num_shards, route, total)
        check(prepared)
        facts = dict(facts or {})
        if "class_names" in facts:
            with open(os.path.join(staging, CLASSES_FILE), "w") as f:
                json.dump(facts["class_names"], f, indent=2)
        files = [os.path.relpath(path, staging) for path in prepared.paths]
        marker = {"written_by": "data.prepare", "source": name, "examples": prepared.examples, "files": files}
        with open(os.path.join(staging, MARKER), "w") as f:
            json.dump({**marker, "counts": prepared.counts, **facts}, f, indent=2)
        os.remove(os.path.join(staging, OWNER))
        kept = _replace(staging, out_dir)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if staging:
            shutil.rmtree(staging, ignore_errors=True)  # only ever our own staging folder
    paths = [os.path.join(out_dir, os.path.relpath(p, staging)) for p in prepared.paths]
    return Prepared(paths, prepared.counts, kept)


def _ours(out_dir: str) -> List[str]:
    """The files an earlier output of ``prepare`` in ``out_dir`` wrote, relative to it (from its marker)."""
    try:
        with open(os.path.join(out_dir, MARKER)) as f:
            files = json.load(f).get("files", [])
    except (OSError, ValueError):
        files = []
    return [*files, CLASSES_FILE, MARKER]


def _replace(staging: str, out_dir: str) -> List[str]:
    """Moves ``staging``'s files into ``out_dir`` in place of an earlier output's own; returns the files kept.

    The earlier files go into a hidden sibling first, the new ones come in (the marker last), and
    the folders left empty are removed; anything else in ``out_dir`` was a user's, and stays.
    """
    if not os.path.isdir(out_dir) or not os.listdir(out_dir):
        os.makedirs(os.path.dirname(out_dir), exist_ok=True)
        os.replace(staging, out_dir)
        return []
    old = tempfile.mkdtemp(dir=os.path.dirname(out_dir), prefix=f".{os.path.basename(out_dir)}.old-")
    for relative in _ours(out_dir):
        if os.path.isfile(os.path.join(out_dir, relative)):
            os.makedirs(os.path.dirname(os.path.join(old, relative)), exist_ok=True)
            os.replace(os.path.join(out_dir, relative), os.path.join(old, relative))
    new = [os.path.relpath(os.path.join(d, f), staging) for d, _, files in os.walk(staging) for f in files]
    for relative in sorted(new, key=lambda r: r == MARKER):  # the marker last: it says the folder is complete
        os.makedirs(os.path.dirname(os.path.join(out_dir, relative)), exist_ok=True)
        os.replace(os.path.join(staging, relative), os.path.join(out_dir, relative))
    for folder, dirs, files in os.walk(out_dir, topdown=False):
        if folder != out_dir and not dirs and not files:
            os.rmdir(folder)
    shutil.rmtree(old)
    kept = [os.path.relpath(os.path.join(d, f), out_dir) for d, _, files in os.walk(out_dir) for f in files]
    return sorted(set(kept) - set(new))
