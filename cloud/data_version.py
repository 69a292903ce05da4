"""A fingerprint of the files under a data root, taken when a run is sent: ``data_fingerprint``'s value.

Kubeflow Pipelines 2 does not run ImportExampleGen's driver, which fingerprints its input files
elsewhere, so ``cloud.submit`` (and the preflight, which sends what submit would) fingerprints
``data_root`` itself and passes the digest as a runtime parameter; it enters ImportExampleGen's cache
key (``pipeline/example_gen.py``). The digest covers every file's path relative to the root, its size
and a version stamp: the modification time on a local disk, the object's generation and CRC32C on
Cloud Storage, listed without reading any data. Adding, removing or changing a file changes it.
"""

import hashlib
import os
from typing import Iterable, Tuple

GS = "gs://"


def local_files(root: str) -> Iterable[Tuple[str, int, str]]:
    """(relative path, size, modification time) of every file under a local folder."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            stat = os.stat(os.path.join(folder, name))
            yield os.path.relpath(os.path.join(folder, name), root), stat.st_size, str(stat.st_mtime_ns)


def gcs_files(root: str, client=None) -> Iterable[Tuple[str, int, str]]:
    """(relative path, size, generation and CRC32C) of every object under a ``gs://`` prefix."""
    if client is None:
        from google.cloud import storage

        client = storage.Client()
    bucket, _, prefix = root[len(GS) :].partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    for blob in client.list_blobs(bucket, prefix=prefix):
        if not blob.name.endswith("/"):
            yield blob.name[len(prefix) :], blob.size, f"{blob.generation}:{blob.crc32c}"


def fingerprint(root: str, client=None) -> str:
    """The digest of what ``root`` (a local folder or a ``gs://`` prefix) holds now; empty files count too."""
    files = gcs_files(root, client) if root.startswith(GS) else local_files(root)
    digest = hashlib.sha256()
    for path, size, stamp in sorted(files):
        digest.update(f"{path}\0{size}\0{stamp}\n".encode())
    return digest.hexdigest()[:16]
